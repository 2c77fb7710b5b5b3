/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// It rejects what serde_json (the safetensors reference) rejects: trailing commas, comments, control
/// characters in strings, lone surrogates, leading zeros, nesting deeper than 128 levels and
/// anything but whitespace after the value. On request it also accepts the non-finite numbers
/// Python's `json` module writes and reads (`NaN`, `Infinity`, `-Infinity`).
package struct JSONParser {
  /// A parse failure: what went wrong and the byte offset where.
  package struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    package var message: String
    /// The byte offset in the input.
    package var offset: Int
    /// `message at byte offset`.
    package var description: String { "\(message) at byte \(offset)" }
  }

  private let bytes: UnsafeRawBufferPointer
  private var position = 0
  private var depth = 0
  private let allowsNonFiniteNumbers: Bool
  private static let maximumDepth = 128

  private init(bytes: UnsafeRawBufferPointer, allowsNonFiniteNumbers: Bool) {
    self.bytes = bytes
    self.allowsNonFiniteNumbers = allowsNonFiniteNumbers
  }

  /// Parses one JSON value that fills `bytes` (surrounding whitespace allowed).
  ///
  /// - Parameters:
  ///   - bytes: UTF-8 text.
  ///   - allowsNonFiniteNumbers: Whether to accept Python's `NaN`, `Infinity` and `-Infinity`
  ///     (kept as number literals).
  /// - Returns: The value.
  /// - Throws: `JSONParser.Failure` for malformed input.
  package static func parse(
    _ bytes: UnsafeRawBufferPointer, allowsNonFiniteNumbers: Bool = false
  ) throws(Failure) -> JSONValue {
    var parser = JSONParser(bytes: bytes, allowsNonFiniteNumbers: allowsNonFiniteNumbers)
    parser.skipWhitespace()
    let value = try parser.parseValue()
    parser.skipWhitespace()
    guard parser.position == bytes.count else { throw parser.failure("unexpected characters after the JSON value") }
    return value
  }

  /// Parses a JSON document held in a string.
  ///
  /// - Parameter text: The document.
  /// - Returns: The value.
  /// - Throws: `JSONParser.Failure` for malformed input.
  package static func parse(_ text: String) throws(Failure) -> JSONValue {
    try parse(bytes: Array(text.utf8))
  }

  /// Parses a JSON document held in bytes.
  ///
  /// - Parameters:
  ///   - data: The document.
  ///   - allowsNonFiniteNumbers: Whether to accept Python's `NaN`, `Infinity` and `-Infinity`.
  /// - Returns: The value.
  /// - Throws: `JSONParser.Failure` for malformed input.
  package static func parse(bytes data: [UInt8], allowsNonFiniteNumbers: Bool = false) throws(Failure) -> JSONValue {
    let result: Result<JSONValue, Failure> = data.withUnsafeBytes { buffer in
      do throws(Failure) {
        return .success(try parse(buffer, allowsNonFiniteNumbers: allowsNonFiniteNumbers))
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  private func failure(_ message: String) -> Failure { Failure(message: message, offset: position) }

  private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

  private mutating func skipWhitespace() {
    while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
  }

  private mutating func expect(_ literal: StaticString, value: JSONValue) throws(Failure) -> JSONValue {
    let count = literal.utf8CodeUnitCount
    guard position + count <= bytes.count else { throw failure("truncated literal") }
    for index in 0..<count where bytes[position + index] != literal.utf8Start[index] {
      throw failure("invalid literal")
    }
    position += count
    return value
  }

  private mutating func parseValue() throws(Failure) -> JSONValue {
    guard let byte = current else { throw failure("unexpected end of input") }
    switch byte {
    case UInt8(ascii: "{"): return try parseObject()
    case UInt8(ascii: "["): return try parseArray()
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
    case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
    case UInt8(ascii: "n"): return try expect("null", value: .null)
    case UInt8(ascii: "N") where allowsNonFiniteNumbers:
      return try expect("NaN", value: .number(JSONNumber(literal: "NaN")))
    case UInt8(ascii: "I") where allowsNonFiniteNumbers:
      return try expect("Infinity", value: .number(JSONNumber(literal: "Infinity")))
    case UInt8(ascii: "-") where allowsNonFiniteNumbers && position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "I"):
      return try expect("-Infinity", value: .number(JSONNumber(literal: "-Infinity")))
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    default: throw failure("unexpected character '\(Unicode.Scalar(byte))'")
    }
  }

  private mutating func enter() throws(Failure) {
    depth += 1
    guard depth <= JSONParser.maximumDepth else { throw failure("nesting deeper than \(JSONParser.maximumDepth) levels") }
  }

  private mutating func parseObject() throws(Failure) -> JSONValue {
    try enter()
    defer { depth -= 1 }
    position += 1
    var members: [JSONMember] = []
    skipWhitespace()
    if current == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard current == UInt8(ascii: "\"") else { throw failure("expected a member name") }
      let key = try parseString()
      skipWhitespace()
      guard current == UInt8(ascii: ":") else { throw failure("expected ':' after a member name") }
      position += 1
      skipWhitespace()
      let value = try parseValue()
      members.append(JSONMember(key: key, value: value))
      skipWhitespace()
      switch current {
      case UInt8(ascii: ","): position += 1
      case UInt8(ascii: "}"):
        position += 1
        return .object(members)
      default: throw failure("expected ',' or '}' in an object")
      }
    }
  }

  private mutating func parseArray() throws(Failure) -> JSONValue {
    try enter()
    defer { depth -= 1 }
    position += 1
    var elements: [JSONValue] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") {
      position += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue())
      skipWhitespace()
      switch current {
      case UInt8(ascii: ","): position += 1
      case UInt8(ascii: "]"):
        position += 1
        return .array(elements)
      default: throw failure("expected ',' or ']' in an array")
      }
    }
  }

  private mutating func parseNumber() throws(Failure) -> JSONNumber {
    let start = position
    if current == UInt8(ascii: "-") { position += 1 }
    guard let first = current, isDigit(first) else { throw failure("invalid number") }
    position += 1
    if first == UInt8(ascii: "0"), let next = current, isDigit(next) { throw failure("leading zero in a number") }
    while let byte = current, isDigit(byte) { position += 1 }
    if current == UInt8(ascii: ".") {
      position += 1
      guard let byte = current, isDigit(byte) else { throw failure("expected a digit after '.'") }
      while let byte = current, isDigit(byte) { position += 1 }
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      position += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
      guard let byte = current, isDigit(byte) else { throw failure("expected a digit in the exponent") }
      while let byte = current, isDigit(byte) { position += 1 }
    }
    return JSONNumber(literal: String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
  }

  private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

  private mutating func parseString() throws(Failure) -> String {
    position += 1
    let start = position
    // Fast path: no escapes.
    while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
      guard byte >= 0x20 else { throw failure("control character in a string") }
      position += 1
    }
    guard let stop = current else { throw failure("unterminated string") }
    var scalars = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    if stop == UInt8(ascii: "\"") {
      position += 1
      return scalars
    }
    var pending: [UInt8] = []
    while true {
      guard let byte = current else { throw failure("unterminated string") }
      switch byte {
      case UInt8(ascii: "\""):
        position += 1
        scalars += String(decoding: pending, as: UTF8.self)
        return scalars
      case UInt8(ascii: "\\"):
        position += 1
        guard let escape = current else { throw failure("unterminated escape") }
        position += 1
        switch escape {
        case UInt8(ascii: "\""): pending.append(0x22)
        case UInt8(ascii: "\\"): pending.append(0x5C)
        case UInt8(ascii: "/"): pending.append(0x2F)
        case UInt8(ascii: "b"): pending.append(0x08)
        case UInt8(ascii: "f"): pending.append(0x0C)
        case UInt8(ascii: "n"): pending.append(0x0A)
        case UInt8(ascii: "r"): pending.append(0x0D)
        case UInt8(ascii: "t"): pending.append(0x09)
        case UInt8(ascii: "u"):
          var code = try parseHex4()
          if (0xD800..<0xDC00).contains(code) {
            guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
              throw failure("lone leading surrogate in a \\u escape")
            }
            position += 2
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid trailing surrogate in a \\u escape") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          } else if (0xDC00..<0xE000).contains(code) {
            throw failure("lone trailing surrogate in a \\u escape")
          }
          guard let scalar = Unicode.Scalar(code) else { throw failure("invalid \\u escape") }
          pending.append(contentsOf: Array(String(Character(scalar)).utf8))
        default: throw failure("invalid escape '\\\(Unicode.Scalar(escape))'")
        }
      default:
        guard byte >= 0x20 else { throw failure("control character in a string") }
        pending.append(byte)
        position += 1
      }
    }
  }

  private mutating func parseHex4() throws(Failure) -> UInt32 {
    guard position + 4 <= bytes.count else { throw failure("truncated \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw failure("invalid hex digit in a \\u escape")
      }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }
}
