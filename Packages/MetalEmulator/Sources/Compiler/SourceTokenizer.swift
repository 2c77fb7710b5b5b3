/// A C++ token of preprocessed source: its kind and its byte range.
struct SourceToken: Equatable {
  enum Kind: Equatable {
    case identifier
    case number
    case literal
    case punctuation
  }

  var kind: Kind
  var start: Int
  var end: Int
}

/// A run of preprocessed source that came from one file (between two `# line "file"` markers).
struct SourceRegion {
  /// The file the lines came from.
  var file: String
  /// The line number of the region's first line.
  var firstLine: Int
  /// The byte offset where the region's text starts.
  var start: Int
  /// Whether the region is a system header (the compatibility header included), left untouched.
  var isSystem: Bool
}

/// Splits preprocessed C++ (clang `-E` output) into tokens, and records its line markers.
///
/// Only what the token pass needs: identifiers, pp-numbers, string and character literals, and
/// single-character punctuation (so `>>` is two `>` tokens, which keeps template brackets balanced).
struct SourceTokenizer {
  let bytes: [UInt8]
  private(set) var tokens: [SourceToken] = []
  private(set) var regions: [SourceRegion] = []

  init(_ text: String) {
    bytes = Array(text.utf8)
    tokenize()
  }

  private static func isIdentifierStart(_ c: UInt8) -> Bool {
    (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F || c >= 0x80
  }

  private static func isIdentifierBody(_ c: UInt8) -> Bool {
    isIdentifierStart(c) || (c >= 0x30 && c <= 0x39)
  }

  private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

  private mutating func tokenize() {
    let count = bytes.count
    var i = 0
    var atLineStart = true
    while i < count {
      let c = bytes[i]
      if c == 0x0A {
        atLineStart = true
        i += 1
        continue
      }
      if c == 0x20 || c == 0x09 || c == 0x0D {
        i += 1
        continue
      }
      if c == 0x23 && atLineStart {  // '#': a line marker `# 12 "file" flags`
        var end = i
        while end < count && bytes[end] != 0x0A { end += 1 }
        recordLineMarker(bytes[i..<end], nextLineStart: end + 1)
        i = end
        continue
      }
      atLineStart = false
      let start = i
      if Self.isIdentifierStart(c) {
        while i < count && Self.isIdentifierBody(bytes[i]) { i += 1 }
        // A prefixed literal such as u8"…" or L'x'.
        if i < count && (bytes[i] == 0x22 || bytes[i] == 0x27) {
          i = skipQuoted(from: i)
          tokens.append(SourceToken(kind: .literal, start: start, end: i))
        } else {
          tokens.append(SourceToken(kind: .identifier, start: start, end: i))
        }
      } else if Self.isDigit(c) || (c == 0x2E && i + 1 < count && Self.isDigit(bytes[i + 1])) {
        i += 1
        while i < count {
          let d = bytes[i]
          if d == 0x2B || d == 0x2D, [0x65, 0x45, 0x70, 0x50].contains(bytes[i - 1]) {
            i += 1
          } else if Self.isIdentifierBody(d) || d == 0x2E || d == 0x27 {
            i += 1
          } else {
            break
          }
        }
        tokens.append(SourceToken(kind: .number, start: start, end: i))
      } else if c == 0x22 || c == 0x27 {
        i = skipQuoted(from: i)
        tokens.append(SourceToken(kind: .literal, start: start, end: i))
      } else {
        i += 1
        tokens.append(SourceToken(kind: .punctuation, start: start, end: i))
      }
    }
  }

  private func skipQuoted(from position: Int) -> Int {
    let quote = bytes[position]
    var i = position + 1
    while i < bytes.count && bytes[i] != quote && bytes[i] != 0x0A {
      if bytes[i] == 0x5C { i += 1 }
      i += 1
    }
    return min(i + 1, bytes.count)
  }

  private mutating func recordLineMarker(_ line: ArraySlice<UInt8>, nextLineStart: Int) {
    let text = String(decoding: line, as: UTF8.self)
    var parts = text.dropFirst().split(separator: " ", omittingEmptySubsequences: true)
    if parts.first == "line" { parts.removeFirst() }
    guard let number = parts.first.flatMap({ Int($0) }) else { return }
    var file = regions.last?.file ?? "<source>"
    if parts.count > 1, parts[1].hasPrefix("\"") {
      file = String(parts[1].dropFirst().dropLast())
    }
    let flags = parts.dropFirst(2).compactMap { Int($0) }
    regions.append(SourceRegion(file: file, firstLine: number, start: nextLineStart, isSystem: flags.contains(3)))
  }

  /// The text of a token.
  func text(_ token: SourceToken) -> String {
    String(decoding: bytes[token.start..<token.end], as: UTF8.self)
  }

  /// The text from the start of `first` to the end of `last`, with newlines turned into spaces.
  func text(from first: SourceToken, to last: SourceToken) -> String {
    guard first.start < last.end else { return "" }
    return String(decoding: bytes[first.start..<last.end].map { $0 == 0x0A ? 0x20 : $0 }, as: UTF8.self)
  }

  /// The region holding byte `offset`.
  func region(at offset: Int) -> SourceRegion? {
    var low = 0
    var high = regions.count
    while low < high {
      let mid = (low + high) / 2
      if regions[mid].start <= offset { low = mid + 1 } else { high = mid }
    }
    return low > 0 ? regions[low - 1] : nil
  }

  /// `file:line` of byte `offset`, for messages.
  func location(of offset: Int) -> String {
    guard let region = region(at: offset) else { return "<source>" }
    var line = region.firstLine
    var i = region.start
    while i < offset && i < bytes.count {
      if bytes[i] == 0x0A { line += 1 }
      i += 1
    }
    return "\(region.file):\(line)"
  }
}
