/// Python's `repr(float)`, which `json.dumps` uses for floats: bitsandbytes writes `nested_offset` this way.
///
/// The digits are the shortest that round-trip (Swift's `description` computes the same digits); the
/// layout follows CPython's `float_repr_style = 'short'`: positional when the decimal exponent `e`
/// (value = d.ddd × 10^e) satisfies -4 ≤ e < 16, with `.0` appended to integers; otherwise
/// `d.ddde±XX` with at least two exponent digits. JSON's non-finite spellings are `NaN`,
/// `Infinity` and `-Infinity` (Python's `allow_nan=True` default).
public enum PythonFloatRepr {
  /// Formats a double as Python's `repr` does.
  ///
  /// - Parameter value: The value.
  /// - Returns: For example `"0.050548553466796875"`, `"1e-05"`, `"1e+16"`, `"2.0"`, `"-0.0"`, `"inf"`, `"nan"`.
  public static func repr(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    let sign = value.sign == .minus ? "-" : ""
    if value == 0 { return sign + "0.0" }
    let (digits, exponent) = shortestDigits(value.magnitude)
    if exponent < -4 || exponent >= 16 {
      let mantissa = digits.count == 1 ? digits : digits.prefix(1) + "." + digits.dropFirst()
      let exponentDigits = String(abs(exponent))
      return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (exponentDigits.count < 2 ? "0" : "") + exponentDigits
    }
    if exponent < 0 {
      return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits
    }
    if digits.count <= exponent + 1 {
      return sign + digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
    }
    return sign + digits.prefix(exponent + 1) + "." + digits.dropFirst(exponent + 1)
  }

  /// The value as JSON, as `json.dumps` writes a float.
  ///
  /// - Parameter value: The value.
  /// - Returns: `repr(value)`, except `NaN`, `Infinity`, `-Infinity` for non-finite values.
  public static func json(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
    return repr(value)
  }

  /// The shortest round-trip significant digits of a positive finite value (no leading or trailing
  /// zeros) and its decimal exponent, parsed from Swift's `description` whatever its layout.
  static func shortestDigits(_ value: Double) -> (digits: String, exponent: Int) {
    let text = value.description
    var mantissa = Substring(text)
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
      mantissa = text[..<e]
      exponent = Int(text[text.index(after: e)...]) ?? 0
    }
    let point = mantissa.firstIndex(of: ".")
    let integerPart = point.map { mantissa[..<$0] } ?? mantissa
    let fractionPart = point.map { mantissa[mantissa.index(after: $0)...] } ?? ""
    var all = Array(integerPart + fractionPart)
    // The decimal exponent of the first digit of `all` is integerPart.count - 1 + exponent.
    var firstExponent = integerPart.count - 1 + exponent
    while let first = all.first, first == "0" {
      all.removeFirst()
      firstExponent -= 1
    }
    while let last = all.last, last == "0" { all.removeLast() }
    return (all.isEmpty ? "0" : String(all), firstExponent)
  }
}
