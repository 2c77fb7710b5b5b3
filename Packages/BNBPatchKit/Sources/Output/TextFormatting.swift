import Foundation

/// Number and table formatting for `bnb-patch` output.
enum TextFormatting {
  /// `1.23 MB`, `512 B` (decimal units, as file managers show).
  static func bytes(_ count: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(count)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
      value /= 1000
      unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format: "%.2f %@", value, units[unit])
  }

  /// A fixed number of decimals.
  static func decimal(_ value: Double, _ digits: Int = 2) -> String {
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    if value.isNaN { return "nan" }
    return String(format: "%.\(digits)f", value)
  }

  /// A scientific-notation value for errors.
  static func scientific(_ value: Double) -> String {
    value == 0 ? "0" : String(format: "%.3e", value)
  }

  /// Text from a file (a tensor name, a path, an error naming them) made safe to print: control characters
  /// (C0 but newline, DEL, C1), bidirectional overrides and isolates, and other invisible format
  /// characters are written as `\u{XXXX}`, so that a crafted name can neither move the cursor, recolour
  /// or clear the terminal, nor display in an order that hides what it is.
  ///
  /// - Parameters:
  ///   - text: The text.
  ///   - keepingNewlines: Whether `\n` passes through (messages of several lines).
  /// - Returns: The text with those characters escaped (unchanged when it has none).
  static func terminalSafe(_ text: String, keepingNewlines: Bool = false) -> String {
    func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
      if scalar == "\n" { return !keepingNewlines }
      switch scalar.properties.generalCategory {
      case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned: return true
      default: return false
      }
    }
    guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
    var result = ""
    for scalar in text.unicodeScalars {
      if isUnsafe(scalar) {
        result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
      } else {
        result.unicodeScalars.append(scalar)
      }
    }
    return result
  }

  /// A plain-text table: columns padded, numbers right-aligned.
  static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int>) -> String {
    var widths = header.map(\.count)
    for row in rows {
      for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
    }
    func line(_ cells: [String]) -> String {
      cells.enumerated().map { index, cell in
        let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
        return rightAligned.contains(index) ? padding + cell : cell + padding
      }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    var text = line(header) + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
    for row in rows { text += line(row) + "\n" }
    return text
  }

  /// JSON text of an encodable value (sorted keys, pretty).
  static func json<Value: Encodable>(_ value: Value) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    guard let data = try? encoder.encode(value) else { return "{}\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
