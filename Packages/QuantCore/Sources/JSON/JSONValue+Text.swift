extension JSONValue {
  /// How ``JSONValue/text(style:)`` lays out JSON.
  package enum TextStyle: Sendable {
    /// No spaces at all (`{"a":1,"b":[1,2]}`), non-ASCII written as is: what the safetensors
    /// reference (serde_json) writes into headers.
    case compact
    /// Python's `json.dumps(value, indent=indent, sort_keys=sortKeys)` with its default
    /// `ensure_ascii=True`: what transformers writes into `config.json` and index files (`indent: 2`),
    /// and what bitsandbytes writes into a packed quant state (`indent: nil`: one line, separators
    /// `", "` and `": "`).
    case python(indent: Int?, sortKeys: Bool)
  }

  /// The value as JSON text in the given style.
  ///
  /// - Parameter style: The layout.
  /// - Returns: The text (no trailing newline).
  package func text(style: TextStyle) -> String {
    var output = ""
    write(into: &output, style: style, level: 0)
    return output
  }

  private func write(into output: inout String, style: TextStyle, level: Int) {
    switch self {
    case .null: output += "null"
    case .bool(let value): output += value ? "true" : "false"
    case .number(let number): output += number.literal
    case .string(let value): JSONValue.writeString(value, into: &output, asciiOnly: style.asciiOnly)
    case .array(let elements):
      guard !elements.isEmpty else {
        output += "[]"
        return
      }
      output += "["
      for (index, element) in elements.enumerated() {
        if index > 0 { output += style.itemSeparator }
        style.newline(into: &output, level: level + 1)
        element.write(into: &output, style: style, level: level + 1)
      }
      style.newline(into: &output, level: level)
      output += "]"
    case .object(let members):
      guard !members.isEmpty else {
        output += "{}"
        return
      }
      let ordered =
        style.sortsKeys ? members.sorted { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) } : members
      output += "{"
      for (index, member) in ordered.enumerated() {
        if index > 0 { output += style.itemSeparator }
        style.newline(into: &output, level: level + 1)
        JSONValue.writeString(member.key, into: &output, asciiOnly: style.asciiOnly)
        output += style.isCompact ? ":" : ": "
        member.value.write(into: &output, style: style, level: level + 1)
      }
      style.newline(into: &output, level: level)
      output += "}"
    }
  }

  private static func writeString(_ value: String, into output: inout String, asciiOnly: Bool) {
    output += "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": output += "\\\""
      case "\\": output += "\\\\"
      case "\n": output += "\\n"
      case "\r": output += "\\r"
      case "\t": output += "\\t"
      case "\u{08}": output += "\\b"
      case "\u{0C}": output += "\\f"
      default:
        if scalar.value < 0x20 || (asciiOnly && scalar.value == 0x7F) {
          output += hexEscape(UInt16(scalar.value))
        } else if asciiOnly && scalar.value > 0x7F {
          for unit in String(scalar).utf16 { output += hexEscape(unit) }
        } else {
          output.unicodeScalars.append(scalar)
        }
      }
    }
    output += "\""
  }

  private static func hexEscape(_ unit: UInt16) -> String {
    let hex = String(unit, radix: 16)
    return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
  }
}

extension JSONValue.TextStyle {
  var isCompact: Bool { if case .compact = self { true } else { false } }
  var asciiOnly: Bool { !isCompact }
  var sortsKeys: Bool { if case .python(_, let sortKeys) = self { sortKeys } else { false } }
  /// Python's `item_separator`: `", "` only on one line (`indent=None`).
  var itemSeparator: String { if case .python(nil, _) = self { ", " } else { "," } }

  func newline(into output: inout String, level: Int) {
    guard case .python(let indent?, _) = self else { return }
    output += "\n" + String(repeating: " ", count: indent * level)
  }
}
