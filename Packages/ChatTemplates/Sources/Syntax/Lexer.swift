import Foundation

/// Splits a template into tokens the way jinja2's lexer does with `trim_blocks=True, lstrip_blocks=True`
/// and `keep_trailing_newline=False` (the environment transformers builds).
struct Lexer {
  private let source: [UInt8]
  private let map: SourceMap
  private var position = 0
  private var tokens: [Token] = []
  /// Whether the last thing consumed ended with a newline (or nothing was consumed): lstrip_blocks
  /// then also strips indentation at the very start of the text.
  private var lineStarting = true

  /// Normalizes newlines (`\r\n`, `\r` become `\n`) and drops one trailing newline, as jinja2 does.
  static func normalize(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    let input = Array(text.utf8)
    bytes.reserveCapacity(input.count)
    var index = 0
    while index < input.count {
      let byte = input[index]
      if byte == UInt8(ascii: "\r") {
        bytes.append(UInt8(ascii: "\n"))
        if index + 1 < input.count, input[index + 1] == UInt8(ascii: "\n") { index += 1 }
      } else {
        bytes.append(byte)
      }
      index += 1
    }
    if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
    return bytes
  }

  init(source: [UInt8], map: SourceMap) {
    self.source = source
    self.map = map
  }

  static func tokenize(_ source: [UInt8], map: SourceMap) throws(ChatTemplateError) -> [Token] {
    var lexer = Lexer(source: source, map: map)
    try lexer.run()
    return lexer.tokens
  }

  private func error(_ message: String, at offset: Int) -> ChatTemplateError {
    .syntax(message: message, location: map.location(offset))
  }

  private func byte(_ offset: Int) -> UInt8? { offset < source.count ? source[offset] : nil }

  private func matches(_ text: String, at offset: Int) -> Bool {
    var index = offset
    for byte in text.utf8 {
      guard self.byte(index) == byte else { return false }
      index += 1
    }
    return true
  }

  /// The length of the whitespace character (Python's `str.isspace`, what jinja2's `\\s` matches) starting at
  /// `offset`, or 0.
  private func spaceLength(at offset: Int) -> Int {
    guard let first = byte(offset) else { return 0 }
    if (0x09...0x0D).contains(first) || (0x1C...0x20).contains(first) { return 1 }
    let second = byte(offset + 1) ?? 0
    if first == 0xC2 { return second == 0x85 || second == 0xA0 ? 2 : 0 }
    let third = byte(offset + 2) ?? 0
    switch (first, second) {
    case (0xE1, 0x9A): return third == 0x80 ? 3 : 0
    case (0xE2, 0x80): return (0x80...0x8A).contains(third) || [0xA8, 0xA9, 0xAF].contains(third) ? 3 : 0
    case (0xE2, 0x81): return third == 0x9F ? 3 : 0
    case (0xE3, 0x80): return third == 0x80 ? 3 : 0
    default: return 0
    }
  }

  /// The length of the whitespace character that ends just before `end` (not before `start`), or 0.
  private func spaceLength(before end: Int, from start: Int) -> Int {
    for length in 1...3 where end - length >= start && spaceLength(at: end - length) == length { return length }
    return 0
  }

  private func skipSpace(from offset: Int) -> Int {
    var index = offset
    while case let length = spaceLength(at: index), length > 0 { index += length }
    return index
  }

  /// Where the whitespace at the end of `range` starts (Python's `rstrip()`).
  private func trailingSpaceStart(_ range: Range<Int>) -> Int {
    var end = range.upperBound
    while case let length = spaceLength(before: end, from: range.lowerBound), length > 0 { end -= length }
    return end
  }

  private func string(_ range: Range<Int>) -> String {
    String(decoding: source[range], as: UTF8.self)
  }

  // MARK: - Text and tags

  private mutating func run() throws(ChatTemplateError) {
    while position < source.count {
      guard let tagStart = nextTagStart(from: position) else {
        emitText(position..<source.count)
        break
      }
      let kind = source[tagStart + 1]
      let signOffset = tagStart + 2
      let sign = byte(signOffset).flatMap { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") ? $0 : nil }
      let rawEnd = kind == UInt8(ascii: "%") ? rawBeginEnd(at: tagStart) : nil
      var textEnd = tagStart
      if sign == UInt8(ascii: "-") {
        textEnd = trailingSpaceStart(position..<tagStart)
      } else if sign != UInt8(ascii: "+"), kind != UInt8(ascii: "{") {
        textEnd = lstripped(position..<tagStart)
      }
      emitText(position..<textEnd)
      let bodyStart = sign == nil ? signOffset : signOffset + 1
      if let rawEnd {
        try lexRaw(contentStart: rawEnd, tagStart: tagStart)
      } else if kind == UInt8(ascii: "#") {
        try lexComment(from: bodyStart, tagStart: tagStart)
      } else if kind == UInt8(ascii: "{") {
        tokens.append(Token(kind: .variableBegin, offset: tagStart))
        position = bodyStart
        try lexExpression(isBlock: false)
      } else {
        tokens.append(Token(kind: .blockBegin, offset: tagStart))
        position = bodyStart
        try lexExpression(isBlock: true)
      }
    }
    tokens.append(Token(kind: .end, offset: source.count))
  }

  private func nextTagStart(from offset: Int) -> Int? {
    var index = offset
    while index + 1 < source.count {
      if source[index] == UInt8(ascii: "{") {
        let next = source[index + 1]
        if next == UInt8(ascii: "{") || next == UInt8(ascii: "%") || next == UInt8(ascii: "#") { return index }
      }
      index += 1
    }
    return nil
  }

  /// lstrip_blocks: drop spaces and tabs between the last line start and a block or comment tag.
  private func lstripped(_ range: Range<Int>) -> Int {
    var lineStart = range.upperBound
    while lineStart > range.lowerBound, source[lineStart - 1] != UInt8(ascii: "\n") { lineStart -= 1 }
    guard lineStart > range.lowerBound || lineStarting, lineStart < range.upperBound else { return range.upperBound }
    // Only whitespace may stand between the line start and the tag.
    var index = lineStart
    while index < range.upperBound {
      let length = spaceLength(at: index)
      guard length > 0 else { return range.upperBound }
      index += length
    }
    return lineStart
  }

  private mutating func emitText(_ range: Range<Int>) {
    guard !range.isEmpty else { return }
    tokens.append(Token(kind: .text(string(range)), offset: range.lowerBound))
  }

  /// If a `{% raw %}` tag starts at `offset`, where its content starts.
  private func rawBeginEnd(at offset: Int) -> Int? {
    var index = offset + 2
    if byte(index) == UInt8(ascii: "-") || byte(index) == UInt8(ascii: "+") { index += 1 }
    index = skipSpace(from: index)
    guard matches("raw", at: index) else { return nil }
    index = skipSpace(from: index + 3)
    if matches("-%}", at: index) { return skipSpace(from: index + 3) }
    if matches("%}", at: index) { return index + 2 }
    return nil
  }

  private mutating func lexRaw(contentStart: Int, tagStart: Int) throws(ChatTemplateError) {
    var index = contentStart
    while let end = nextTagStart(from: index) {
      var cursor = end + 2
      let sign = byte(cursor)
      if sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { cursor += 1 }
      cursor = skipSpace(from: cursor)
      if source[end + 1] == UInt8(ascii: "%"), matches("endraw", at: cursor) {
        cursor = skipSpace(from: cursor + 6)
        var textEnd = end
        if sign == UInt8(ascii: "-") {
          textEnd = trailingSpaceStart(contentStart..<end)
        } else if sign != UInt8(ascii: "+") {
          let saved = lineStarting
          lineStarting = false
          textEnd = lstripped(contentStart..<end)
          lineStarting = saved
        }
        emitText(contentStart..<textEnd)
        position = try blockEnd(at: cursor, tagStart: tagStart, what: "raw")
        return
      }
      index = end + 1
    }
    throw error("Missing end of raw directive", at: tagStart)
  }

  /// Consumes `-%}`, `+%}` or `%}` at `offset` (with trim_blocks), returning the offset after it.
  private mutating func blockEnd(at offset: Int, tagStart: Int, what: String) throws(ChatTemplateError) -> Int {
    let end: Int
    if matches("-%}", at: offset) {
      end = skipSpace(from: offset + 3)
    } else if matches("+%}", at: offset) {
      end = offset + 3
    } else if matches("%}", at: offset) {
      end = byte(offset + 2) == UInt8(ascii: "\n") ? offset + 3 : offset + 2
    } else {
      throw error("Missing end of \(what) directive", at: tagStart)
    }
    lineStarting = source[end - 1] == UInt8(ascii: "\n")
    return end
  }

  private mutating func lexComment(from offset: Int, tagStart: Int) throws(ChatTemplateError) {
    var index = offset
    while index + 1 < source.count {
      if source[index] == UInt8(ascii: "#"), source[index + 1] == UInt8(ascii: "}") {
        let previous = index > offset ? source[index - 1] : 0
        var end: Int
        if previous == UInt8(ascii: "-") {
          end = skipSpace(from: index + 2)
        } else if previous == UInt8(ascii: "+") {
          end = index + 2
        } else {
          end = byte(index + 2) == UInt8(ascii: "\n") ? index + 3 : index + 2
        }
        lineStarting = source[end - 1] == UInt8(ascii: "\n")
        end = min(end, source.count)
        position = end
        return
      }
      index += 1
    }
    throw error("Missing end of comment tag", at: tagStart)
  }

  // MARK: - Expressions inside tags

  private static let symbols = [
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",",
    ".", ":", "|", ";",
  ]

  private mutating func lexExpression(isBlock: Bool) throws(ChatTemplateError) {
    let tagStart = tokens.last?.offset ?? position
    var balance: [UInt8] = []
    while true {
      position = skipSpace(from: position)
      guard let current = byte(position) else {
        throw error(
          isBlock
            ? "unexpected end of template, expected end of statement block"
            : "unexpected end of template, expected end of print statement", at: tagStart)
      }
      if balance.isEmpty {
        if isBlock, matches("-%}", at: position) || matches("+%}", at: position) || matches("%}", at: position) {
          tokens.append(Token(kind: .blockEnd, offset: position))
          position = try blockEnd(at: position, tagStart: tagStart, what: "block")
          return
        }
        if !isBlock {
          if matches("-}}", at: position) {
            tokens.append(Token(kind: .variableEnd, offset: position))
            position = skipSpace(from: position + 3)
            lineStarting = source[position - 1] == UInt8(ascii: "\n")
            return
          }
          if matches("}}", at: position) {
            tokens.append(Token(kind: .variableEnd, offset: position))
            position += 2
            lineStarting = false
            return
          }
        }
      }
      let start = position
      if current == UInt8(ascii: "_") || isLetter(current) {
        while let next = byte(position), next == UInt8(ascii: "_") || isLetter(next) || isDigit(next) { position += 1 }
        tokens.append(Token(kind: .name(string(start..<position)), offset: start))
      } else if isDigit(current) {
        tokens.append(Token(kind: try lexNumber(), offset: start))
      } else if current == UInt8(ascii: "'") || current == UInt8(ascii: "\"") {
        tokens.append(Token(kind: .string(try lexString(quote: current)), offset: start))
      } else if let symbol = Self.symbols.first(where: { matches($0, at: position) }) {
        position += symbol.utf8.count
        switch symbol {
        case "(": balance.append(UInt8(ascii: ")"))
        case "[": balance.append(UInt8(ascii: "]"))
        case "{": balance.append(UInt8(ascii: "}"))
        case ")", "]", "}":
          guard let expected = balance.popLast() else { throw error("unexpected '\(symbol)'", at: start) }
          if expected != symbol.utf8.first {
            throw error("unexpected '\(symbol)', expected '\(Character(Unicode.Scalar(expected)))'", at: start)
          }
        default: break
        }
        tokens.append(Token(kind: .symbol(symbol), offset: start))
      } else {
        let scalar = String(decoding: source[start..<min(start + 4, source.count)], as: UTF8.self).unicodeScalars.first
        throw error("unexpected char \(scalar.map { "'\($0)'" } ?? "") at \(start)", at: start)
      }
    }
  }

  private func isLetter(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
  }

  private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

  private func digitRun(from offset: Int) -> Int {
    var index = offset
    while let next = byte(index), isDigit(next) || (next == UInt8(ascii: "_") && byte(index + 1).map(isDigit) == true) {
      index += 1
    }
    return index
  }

  private mutating func lexNumber() throws(ChatTemplateError) -> Token.Kind {
    let start = position
    var index = digitRun(from: start)
    var isFloat = false
    let afterDot = start > 0 && source[start - 1] == UInt8(ascii: ".")
    if !afterDot, byte(index) == UInt8(ascii: "."), byte(index + 1).map(isDigit) == true {
      index = digitRun(from: index + 1)
      isFloat = true
    }
    if !afterDot, byte(index) == UInt8(ascii: "e") || byte(index) == UInt8(ascii: "E") {
      var exponent = index + 1
      if byte(exponent) == UInt8(ascii: "+") || byte(exponent) == UInt8(ascii: "-") { exponent += 1 }
      if byte(exponent).map(isDigit) == true {
        index = digitRun(from: exponent)
        isFloat = true
      }
    }
    position = index
    let text = string(start..<index).replacingOccurrences(of: "_", with: "")
    if isFloat, let value = Double(text) { return .float(value) }
    if let value = Int(text) { return .integer(value) }
    throw error("integer literal \(text) is out of range", at: start)
  }

  private mutating func lexString(quote: UInt8) throws(ChatTemplateError) -> String {
    let start = position
    var index = position + 1
    var scalars = String.UnicodeScalarView()
    var pending: [UInt8] = []
    func flush() {
      scalars.append(contentsOf: String(decoding: pending, as: UTF8.self).unicodeScalars)
      pending.removeAll()
    }
    while let current = byte(index) {
      if current == quote {
        flush()
        position = index + 1
        return String(scalars)
      }
      if current == UInt8(ascii: "\\"), let escaped = byte(index + 1) {
        flush()
        index += 2
        switch escaped {
        case UInt8(ascii: "n"): scalars.append("\n")
        case UInt8(ascii: "t"): scalars.append("\t")
        case UInt8(ascii: "r"): scalars.append("\r")
        case UInt8(ascii: "0"): scalars.append("\0")
        case UInt8(ascii: "a"): scalars.append("\u{07}")
        case UInt8(ascii: "b"): scalars.append("\u{08}")
        case UInt8(ascii: "f"): scalars.append("\u{0C}")
        case UInt8(ascii: "v"): scalars.append("\u{0B}")
        case UInt8(ascii: "\n"): break
        case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
          let width = escaped == UInt8(ascii: "x") ? 2 : escaped == UInt8(ascii: "u") ? 4 : 8
          let digits = index + width <= source.count ? string(index..<index + width) : ""
          guard let code = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(code) else {
            throw error("invalid \\\(Character(Unicode.Scalar(escaped))) escape in string", at: index - 2)
          }
          scalars.append(scalar)
          index += width
        case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): scalars.append(Unicode.Scalar(escaped))
        default:
          scalars.append("\\")
          pending.append(escaped)
        }
        continue
      }
      pending.append(current)
      index += 1
    }
    throw error("unexpected end of string", at: start)
  }
}
