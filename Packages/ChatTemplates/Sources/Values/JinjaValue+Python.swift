import Foundation

/// Python's `str()`, `repr()`, `==` and ordering, which jinja2 applies to template values.
extension JinjaValue {
  /// What `{{ value }}` prints: Python's `str(value)`; undefined prints nothing.
  package var pythonString: String {
    switch self {
    case .undefined: ""
    case .string(let value): value
    default: pythonRepr
    }
  }

  /// Python's `repr(value)`, used inside lists and dictionaries.
  package var pythonRepr: String {
    switch self {
    case .undefined: ""
    case .none: "None"
    case .bool(let value): value ? "True" : "False"
    case .int(let value): String(value)
    case .double(let value): Self.pythonFloat(value)
    case .string(let value): Self.pythonQuoted(value)
    case .array(let items): "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
    case .dictionary(let dictionary):
      "{" + dictionary.pairs.map { Self.pythonQuoted($0.key) + ": " + $0.value.pythonRepr }.joined(separator: ", ") + "}"
    case .namespace(let namespace): "<Namespace " + JinjaValue.dictionary(namespace.attributes).pythonRepr + ">"
    case .callable(let callable): callable.display
    }
  }

  /// Python's `repr(float)`: the shortest round-trip digits, exponent form below 1e-4 and from 1e16.
  package static func pythonFloat(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    let magnitude = abs(value)
    if magnitude != 0, magnitude < 1e-4 || magnitude >= 1e16 {
      // Swift's description already uses exponent form here; Python writes at least two exponent digits.
      var text = "\(value)"
      if let e = text.firstIndex(of: "e") {
        var exponent = String(text[text.index(after: e)...])
        let sign = exponent.first == "-" ? "-" : "+"
        exponent = exponent.trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
        if exponent.count < 2 { exponent = "0" + exponent }
        var mantissa = String(text[..<e])
        if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
        text = mantissa + "e" + sign + exponent
      }
      return text
    }
    let text = "\(value)"
    if text.contains("e") {
      // Swift switches to exponent form earlier than Python for large values below 1e16.
      return String(format: "%.1f", value)
    }
    return text
  }

  /// Python's quoting of a string in `repr`.
  package static func pythonQuoted(_ text: String) -> String {
    let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
    var result = String(quote)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\r": result += "\\r"
      case "\t": result += "\\t"
      default:
        if Character(scalar) == quote {
          result += "\\" + String(quote)
        } else if !isPrintable(scalar) {
          // Python escapes what `str.isprintable()` rejects: control, format, private, unassigned, separators.
          let value = scalar.value
          result +=
            value < 0x100
            ? String(format: "\\x%02x", value)
            : value < 0x10000 ? String(format: "\\u%04x", value) : String(format: "\\U%08x", value)
        } else {
          result.unicodeScalars.append(scalar)
        }
      }
    }
    return result + String(quote)
  }

  /// Python's `str.isprintable()` for one character (the space is printable).
  private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " { return true }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
      return false
    default: return true
    }
  }

  /// The value as a number, if it is one (`bool` counts, as in Python).
  package var number: Double? {
    switch self {
    case .bool(let value): value ? 1 : 0
    case .int(let value): Double(value)
    case .double(let value): value
    default: nil
    }
  }

  /// The value as an integer, if it is an `int` or `bool`.
  package var integer: Int? {
    switch self {
    case .bool(let value): value ? 1 : 0
    case .int(let value): value
    default: nil
    }
  }

  /// Python's `==`.
  package func pythonEquals(_ other: JinjaValue) -> Bool {
    switch (self, other) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
    case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
    case (.dictionary(let a), .dictionary(let b)):
      return a.count == b.count && a.pairs.allSatisfy { pair in b[pair.key].map { pair.value.pythonEquals($0) } ?? false }
    case (.namespace(let a), .namespace(let b)): return a === b
    default:
      if let a = integer, let b = other.integer { return a == b }
      if let a = number, let b = other.number { return a == b }
      return false
    }
  }

  /// Python's ordering for `<`, `sort` and `min`/`max`; `nil` where Python raises a TypeError.
  package func pythonLess(_ other: JinjaValue) -> Bool? {
    switch (self, other) {
    case (.string(let a), .string(let b)):
      return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    case (.array(let a), .array(let b)):
      for (x, y) in zip(a, b) where !x.pythonEquals(y) { return x.pythonLess(y) }
      return a.count < b.count
    default:
      if let a = integer, let b = other.integer { return a < b }
      if let a = number, let b = other.number { return a < b }
      return nil
    }
  }
}
