import Foundation

/// JSON in and out: an order-keeping parser, and Python's `json.dumps` as transformers' `tojson` calls it.
extension JinjaValue {
  /// Parses JSON text, keeping object key order; integers stay `int`, numbers with `.` or `e` become `double`.
  ///
  /// - Throws: ``JinjaJSONError`` naming the byte offset of the problem.
  public init(json text: String) throws(JinjaJSONError) {
    var reader = JSONReader(bytes: Array(text.utf8))
    self = try reader.readDocument()
  }

  /// Python's `json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)`.
  ///
  /// - Parameters:
  ///   - indent: `nil` for one line; otherwise the indentation string of each level.
  ///   - separators: item and key separators; the default is `(", ", ": ")`, or `(",", ": ")` with an indent.
  ///   - ensureASCII: Whether to escape every non-ASCII character as `\uXXXX`.
  ///   - sortKeys: Whether to sort dictionary keys.
  /// - Returns: The JSON text.
  /// - Throws: ``JinjaJSONError/notSerializable(_:)`` for undefined values, namespaces and functions.
  public func pythonJSON(
    indent: String? = nil, separators: (item: String, key: String)? = nil, ensureASCII: Bool = false, sortKeys: Bool = false
  ) throws(JinjaJSONError) -> String {
    var writer = JSONWriter(
      indent: indent, item: separators?.item ?? (indent == nil ? ", " : ","), key: separators?.key ?? ": ",
      ensureASCII: ensureASCII, sortKeys: sortKeys)
    try writer.write(self, depth: 0)
    return writer.output
  }
}

/// Why JSON could not be read or written.
public enum JinjaJSONError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Malformed JSON text: what was wrong, at which byte offset.
  case malformed(String, offset: Int)
  /// A value with no JSON form (Python's "Object of type X is not JSON serializable").
  case notSerializable(String)

  /// A one-line explanation.
  public var description: String {
    switch self {
    case .malformed(let message, let offset): "malformed JSON at byte \(offset): \(message)"
    case .notSerializable(let type): "Object of type \(type) is not JSON serializable"
    }
  }
}

private struct JSONReader {
  let bytes: [UInt8]
  var position = 0

  init(bytes: [UInt8]) { self.bytes = bytes }

  mutating func readDocument() throws(JinjaJSONError) -> JinjaValue {
    let value = try readValue(depth: 0)
    skipSpace()
    guard position == bytes.count else { throw .malformed("unexpected data after the value", offset: position) }
    return value
  }

  mutating func skipSpace() {
    while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
  }

  mutating func expect(_ literal: String) throws(JinjaJSONError) {
    for byte in literal.utf8 {
      guard position < bytes.count, bytes[position] == byte else { throw .malformed("expected \(literal)", offset: position) }
      position += 1
    }
  }

  mutating func readValue(depth: Int) throws(JinjaJSONError) -> JinjaValue {
    guard depth < 512 else { throw .malformed("nesting too deep", offset: position) }
    skipSpace()
    guard position < bytes.count else { throw .malformed("unexpected end of input", offset: position) }
    switch bytes[position] {
    case UInt8(ascii: "{"):
      position += 1
      var dictionary = JinjaDictionary()
      skipSpace()
      if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
        position += 1
        return .dictionary(dictionary)
      }
      while true {
        skipSpace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
          throw .malformed("expected a string key", offset: position)
        }
        let key = try readString()
        skipSpace()
        try expect(":")
        dictionary[key] = try readValue(depth: depth + 1)
        skipSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: ",") {
          position += 1
          continue
        }
        try expect("}")
        return .dictionary(dictionary)
      }
    case UInt8(ascii: "["):
      position += 1
      var items: [JinjaValue] = []
      skipSpace()
      if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
        position += 1
        return .array(items)
      }
      while true {
        items.append(try readValue(depth: depth + 1))
        skipSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: ",") {
          position += 1
          continue
        }
        try expect("]")
        return .array(items)
      }
    case UInt8(ascii: "\""): return .string(try readString())
    case UInt8(ascii: "t"):
      try expect("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try expect("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try expect("null")
      return .none
    default: return try readNumber()
    }
  }

  mutating func readNumber() throws(JinjaJSONError) -> JinjaValue {
    let start = position
    var isFloat = false
    while position < bytes.count {
      let byte = bytes[position]
      if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
        isFloat = true
      } else if !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), byte != UInt8(ascii: "-"), byte != UInt8(ascii: "+") {
        break
      }
      position += 1
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    if !isFloat, let value = Int(text) { return .int(value) }
    if let value = Double(text), !text.isEmpty { return .double(value) }
    throw .malformed("invalid value", offset: start)
  }

  mutating func readString() throws(JinjaJSONError) -> String {
    let start = position
    position += 1
    var result = String.UnicodeScalarView()
    var runStart = position
    func flush(_ end: Int) {
      result.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars)
    }
    while position < bytes.count {
      let byte = bytes[position]
      if byte == UInt8(ascii: "\"") {
        flush(position)
        position += 1
        return String(result)
      }
      if byte == UInt8(ascii: "\\") {
        flush(position)
        position += 1
        guard position < bytes.count else { break }
        let escaped = bytes[position]
        position += 1
        switch escaped {
        case UInt8(ascii: "n"): result.append("\n")
        case UInt8(ascii: "t"): result.append("\t")
        case UInt8(ascii: "r"): result.append("\r")
        case UInt8(ascii: "b"): result.append("\u{08}")
        case UInt8(ascii: "f"): result.append("\u{0C}")
        case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): result.append(Unicode.Scalar(escaped))
        case UInt8(ascii: "u"):
          var code = try readHex4()
          if (0xD800..<0xDC00).contains(code), position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
            bytes[position + 1] == UInt8(ascii: "u")
          {
            position += 2
            let low = try readHex4()
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
          }
          result.append(Unicode.Scalar(code) ?? "\u{FFFD}")
        default: throw .malformed("invalid escape", offset: position - 2)
        }
        runStart = position
        continue
      }
      position += 1
    }
    throw .malformed("unterminated string", offset: start)
  }

  mutating func readHex4() throws(JinjaJSONError) -> UInt32 {
    guard position + 4 <= bytes.count,
      let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16)
    else { throw .malformed("invalid \\u escape", offset: position) }
    position += 4
    return code
  }
}

private struct JSONWriter {
  let indent: String?
  let item: String
  let key: String
  let ensureASCII: Bool
  let sortKeys: Bool
  var output = ""

  init(indent: String?, item: String, key: String, ensureASCII: Bool, sortKeys: Bool) {
    self.indent = indent
    self.item = item
    self.key = key
    self.ensureASCII = ensureASCII
    self.sortKeys = sortKeys
  }

  mutating func newline(_ depth: Int) {
    guard let indent else { return }
    output += "\n" + String(repeating: indent, count: depth)
  }

  mutating func write(_ value: JinjaValue, depth: Int) throws(JinjaJSONError) {
    switch value {
    case .none: output += "null"
    case .bool(let flag): output += flag ? "true" : "false"
    case .int(let number): output += String(number)
    case .double(let number):
      output +=
        number.isNaN ? "NaN" : number.isInfinite ? (number < 0 ? "-Infinity" : "Infinity") : JinjaValue.pythonFloat(number)
    case .string(let text): writeString(text)
    case .array(let items):
      guard !items.isEmpty else {
        output += "[]"
        return
      }
      output += "["
      for (index, element) in items.enumerated() {
        if index > 0 { output += item }
        newline(depth + 1)
        try write(element, depth: depth + 1)
      }
      newline(depth)
      output += "]"
    case .dictionary(let dictionary):
      guard dictionary.count > 0 else {
        output += "{}"
        return
      }
      output += "{"
      var pairs = dictionary.pairs
      if sortKeys {
        pairs.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) { $0.value < $1.value } }
      }
      for (index, pair) in pairs.enumerated() {
        if index > 0 { output += item }
        newline(depth + 1)
        writeString(pair.key)
        output += key
        try write(pair.value, depth: depth + 1)
      }
      newline(depth)
      output += "}"
    case .undefined, .namespace, .callable: throw .notSerializable(value.typeName)
    }
  }

  mutating func writeString(_ text: String) {
    output += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": output += "\\\""
      case "\\": output += "\\\\"
      case "\n": output += "\\n"
      case "\r": output += "\\r"
      case "\t": output += "\\t"
      case "\u{08}": output += "\\b"
      case "\u{0C}": output += "\\f"
      default:
        if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7F) {
          if scalar.value > 0xFFFF {
            let value = scalar.value - 0x10000
            output += String(format: "\\u%04x\\u%04x", 0xD800 + (value >> 10), 0xDC00 + (value & 0x3FF))
          } else {
            output += String(format: "\\u%04x", scalar.value)
          }
        } else {
          output.unicodeScalars.append(scalar)
        }
      }
    }
    output += "\""
  }
}
