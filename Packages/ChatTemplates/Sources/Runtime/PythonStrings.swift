import Foundation

/// Python's `str` operations that templates call, on Unicode scalars as Python does.
enum PythonStrings {
  static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    (0x09...0x0D).contains(scalar.value) || (0x1C...0x20).contains(scalar.value) || scalar.value == 0x85
      || scalar.value == 0xA0 || scalar.properties.isWhitespace
  }

  /// `str.strip(chars)`, `lstrip`, `rstrip`.
  static func strip(_ text: String, characters: String?, leading: Bool, trailing: Bool) -> String {
    let set = characters.map { Set($0.unicodeScalars) }
    let shouldStrip: (Unicode.Scalar) -> Bool = { scalar in set.map { $0.contains(scalar) } ?? isWhitespace(scalar) }
    var scalars = Array(text.unicodeScalars)[...]
    if leading { while let first = scalars.first, shouldStrip(first) { scalars.removeFirst() } }
    if trailing { while let last = scalars.last, shouldStrip(last) { scalars.removeLast() } }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
  }

  /// `str.split(sep=None, maxsplit=-1)`.
  static func split(_ text: String, separator: String?, maxSplit: Int) throws -> [String] {
    guard let separator else {
      var parts: [String] = []
      var current = String.UnicodeScalarView()
      var inWord = false
      var scalars = Array(text.unicodeScalars)[...]
      while let scalar = scalars.first {
        if isWhitespace(scalar) {
          if inWord {
            parts.append(String(current))
            current = String.UnicodeScalarView()
            inWord = false
            if maxSplit >= 0, parts.count == maxSplit {
              let rest = strip(String(String.UnicodeScalarView(scalars)), characters: nil, leading: true, trailing: false)
              if !rest.isEmpty { parts.append(rest) }
              return parts
            }
          }
        } else {
          current.append(scalar)
          inWord = true
        }
        scalars.removeFirst()
      }
      if inWord { parts.append(String(current)) }
      return parts
    }
    guard !separator.isEmpty else { throw JinjaFailure("empty separator") }
    var parts: [String] = []
    var rest = Substring(text)
    while maxSplit < 0 || parts.count < maxSplit, let range = rest.range(of: separator, options: .literal) {
      parts.append(String(rest[..<range.lowerBound]))
      rest = rest[range.upperBound...]
    }
    parts.append(String(rest))
    return parts
  }

  /// `str.replace(old, new, count=-1)`.
  static func replace(_ text: String, _ old: String, _ new: String, count: Int) -> String {
    if old.isEmpty {
      var result = ""
      var inserted = 0
      for scalar in text.unicodeScalars {
        if count < 0 || inserted < count {
          result += new
          inserted += 1
        }
        result.unicodeScalars.append(scalar)
      }
      if count < 0 || inserted < count { result += new }
      return result
    }
    var result = ""
    var rest = Substring(text)
    var replaced = 0
    while count < 0 || replaced < count, let range = rest.range(of: old, options: .literal) {
      result += rest[..<range.lowerBound] + new
      rest = rest[range.upperBound...]
      replaced += 1
    }
    return result + rest
  }

  /// Python's `str.title()`: a letter after a non-letter is upper-cased, others lower-cased.
  static func title(_ text: String) -> String {
    var result = ""
    var previousIsLetter = false
    for scalar in text.unicodeScalars {
      let isLetter = scalar.properties.isAlphabetic
      let piece = String(scalar)
      result += isLetter ? (previousIsLetter ? piece.lowercased() : piece.uppercased()) : piece
      previousIsLetter = isLetter
    }
    return result
  }

  /// Python's `str.capitalize()`: first character upper-cased, the rest lower-cased.
  static func capitalize(_ text: String) -> String {
    guard let first = text.unicodeScalars.first else { return text }
    return String(first).uppercased() + String(String.UnicodeScalarView(text.unicodeScalars.dropFirst())).lowercased()
  }

  /// Python's `str.splitlines()`.
  static func splitLines(_ text: String) -> [String] {
    var lines: [String] = []
    var current = String.UnicodeScalarView()
    var previousWasCR = false
    for scalar in text.unicodeScalars {
      if scalar == "\n", previousWasCR {
        previousWasCR = false
        continue
      }
      previousWasCR = scalar == "\r"
      if [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029].contains(scalar.value) {
        lines.append(String(current))
        current = String.UnicodeScalarView()
      } else {
        current.append(scalar)
      }
    }
    if !current.isEmpty { lines.append(String(current)) }
    return lines
  }

  /// `str.format(*args, **kwargs)` for `{}`, `{0}`, `{name}`, `{name.attr}` fields without format specs.
  static func format(_ text: String, _ arguments: JinjaCallable.Arguments) throws -> String {
    var result = ""
    var automatic = 0
    var scalars = Array(text.unicodeScalars)[...]
    while let scalar = scalars.popFirst() {
      if scalar == "{" {
        if scalars.first == "{" {
          scalars.removeFirst()
          result += "{"
          continue
        }
        var field = ""
        while let next = scalars.popFirst(), next != "}" { field.unicodeScalars.append(next) }
        let name = field.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        if field.contains(":") || field.contains("!") { throw JinjaFailure("format specs are not supported: {\(field)}") }
        let value: JinjaValue?
        if name.isEmpty {
          value = automatic < arguments.positional.count ? arguments.positional[automatic] : nil
          automatic += 1
        } else if let index = Int(name) {
          value = index < arguments.positional.count ? arguments.positional[index] : nil
        } else {
          value = arguments.keyword(name)
        }
        guard let value else {
          throw JinjaFailure(
            "Replacement index \(name.isEmpty ? String(automatic - 1) : name) out of range for positional args tuple")
        }
        result += value.pythonString
      } else if scalar == "}" {
        if scalars.first == "}" { scalars.removeFirst() }
        result += "}"
      } else {
        result.unicodeScalars.append(scalar)
      }
    }
    return result
  }

  /// Python's `format % values` for `%s`, `%r`, `%d`/`%i`, `%f`/`%.Nf`, `%x`, `%%`, and `%(name)s` with a dictionary.
  /// Python's `int(x)` of a float, as decimal digits: exact for every finite double (those beyond `Int`
  /// through a base-10⁹ doubling of the significand); infinity and NaN raise as Python raises.
  static func integerDigits(truncating number: Double) throws -> String {
    let whole = number.rounded(.towardZero)
    guard whole.isFinite else {
      throw JinjaFailure("cannot convert float \(whole.isNaN ? "NaN" : "infinity") to integer")
    }
    if let exact = Int(exactly: whole) { return String(exact) }
    // |whole| ≥ 2⁶³: significand · 2^(exponent − 52), an exact integer.
    var limbs: [UInt64] = []  // base 10⁹, least significant first
    var significand = whole.significandBitPattern | (1 << 52)
    while significand > 0 {
      limbs.append(significand % 1_000_000_000)
      significand /= 1_000_000_000
    }
    for _ in 0..<(Int(whole.exponent) - 52) {
      var carry: UInt64 = 0
      for index in limbs.indices {
        let doubled = limbs[index] * 2 + carry
        limbs[index] = doubled % 1_000_000_000
        carry = doubled / 1_000_000_000
      }
      if carry > 0 { limbs.append(carry) }
    }
    var digits = String(limbs.last ?? 0)
    for limb in limbs.dropLast().reversed() {
      let part = String(limb)
      digits += String(repeating: "0", count: 9 - part.count) + part
    }
    return (whole < 0 ? "-" : "") + digits
  }

  static func percentFormat(_ format: String, _ values: JinjaValue) throws -> String {
    var positional: [JinjaValue]
    switch values {
    case .array(let items): positional = items
    case .dictionary: positional = [values]
    default: positional = [values]
    }
    var next = 0
    var result = ""
    var scalars = Array(format.unicodeScalars)[...]
    while let scalar = scalars.popFirst() {
      guard scalar == "%" else {
        result.unicodeScalars.append(scalar)
        continue
      }
      var argument: JinjaValue?
      if scalars.first == "(" {
        scalars.removeFirst()
        var name = ""
        while let character = scalars.popFirst(), character != ")" { name.unicodeScalars.append(character) }
        guard case .dictionary(let dictionary) = values else { throw JinjaFailure("format requires a mapping") }
        guard let found = dictionary[name] else { throw JinjaFailure("'\(name)'") }
        argument = found
      }
      var precision: Int?
      if scalars.first == "." {
        scalars.removeFirst()
        var digits = ""
        while let character = scalars.first, ("0"..."9").contains(character) {
          digits.unicodeScalars.append(character)
          scalars.removeFirst()
        }
        // The digits a precision asks for are text this render would build: the text budget bounds them
        // before String(format:) allocates (CPython itself refuses precisions beyond INT_MAX).
        guard let value = digits.isEmpty ? 0 : Int(digits), value <= RenderBudget.maximumBytes else {
          try RenderBudget.check(bytes: Int.max)
          return ""
        }
        precision = value
      }
      guard let conversion = scalars.popFirst() else { throw JinjaFailure("incomplete format") }
      if conversion == "%" {
        result += "%"
        continue
      }
      if argument == nil {
        guard next < positional.count else { throw JinjaFailure("not enough arguments for format string") }
        argument = positional[next]
        next += 1
      }
      let value = argument ?? .none
      switch conversion {
      case "s": result += value.pythonString
      case "r": result += value.pythonRepr
      case "d", "i":
        guard let number = value.number else {
          throw JinjaFailure("%\(conversion) format: a real number is required, not \(value.typeName)")
        }
        result += try value.integer.map(String.init) ?? Self.integerDigits(truncating: number)
      case "f", "F":
        guard let number = value.number else { throw JinjaFailure("must be real number, not \(value.typeName)") }
        result += String(format: "%.\(precision ?? 6)f", number)
      case "x":
        guard let number = value.integer else { throw JinjaFailure("%x format: an integer is required, not \(value.typeName)") }
        result += String(number, radix: 16)
      default: throw JinjaFailure("unsupported format character '\(conversion)'")
      }
    }
    if case .array = values, next < positional.count {
      throw JinjaFailure("not all arguments converted during string formatting")
    }
    return result
  }
}
