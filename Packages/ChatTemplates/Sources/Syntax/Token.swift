/// One token of a template: literal text, a tag delimiter, or a piece of an expression.
struct Token: Equatable {
  enum Kind: Equatable {
    /// Text outside tags, after whitespace control.
    case text(String)
    /// `{{`
    case variableBegin
    /// `}}`
    case variableEnd
    /// `{%`
    case blockBegin
    /// `%}`
    case blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    /// An operator or punctuation: `+`, `//`, `(`, `|`, ...
    case symbol(String)
    case end
  }

  var kind: Kind
  /// Byte offset in the normalized source.
  var offset: Int

  /// How the token reads in an error message.
  var display: String {
    switch kind {
    case .text: "template data"
    case .variableBegin: "'{{'"
    case .variableEnd: "end of print statement"
    case .blockBegin: "'{%'"
    case .blockEnd: "end of statement block"
    case .name(let name): "'\(name)'"
    case .string(let value): "string '\(value)'"
    case .integer(let value): "integer \(value)"
    case .float(let value): "float \(value)"
    case .symbol(let symbol): "'\(symbol)'"
    case .end: "end of template"
    }
  }
}

/// Maps byte offsets of the normalized source to line:column.
struct SourceMap: Sendable {
  private let bytes: [UInt8]
  private let lineStarts: [Int]

  init(_ bytes: [UInt8]) {
    self.bytes = bytes
    var starts = [0]
    for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") { starts.append(index + 1) }
    lineStarts = starts
  }

  func location(_ offset: Int) -> SourceLocation {
    let offset = min(max(offset, 0), bytes.count)
    var low = 0
    var high = lineStarts.count - 1
    while low < high {
      let middle = (low + high + 1) / 2
      if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
    }
    // Columns count Unicode scalars: skip UTF-8 continuation bytes.
    let column = bytes[lineStarts[low]..<offset].reduce(1) { $1 & 0xC0 == 0x80 ? $0 : $0 + 1 }
    return SourceLocation(line: low + 1, column: column)
  }
}
