import Foundation

/// Finds the non-overlapping matches of a `Split`/`Replace` pattern, left to right.
///
/// A `String` pattern is matched literally; a `Regex` pattern (written for Oniguruma, as the Rust
/// `tokenizers` library compiles it) runs on ICU through `NSRegularExpression` after ``OnigurumaTranslation``,
/// except for the known GPT-2, Llama 3 and Qwen2 patterns, which ``KnownPatternScanner`` matches by hand.
enum PatternMatcher: Sendable {
  case literal(String)
  case regex(CompiledRegex)
  case scanner(KnownPatternScanner)

  /// Compiles a pattern object (`{"String": ...}` or `{"Regex": ...}`) from a JSON node.
  static func make(_ node: JSONNode) throws(TokenizerError) -> PatternMatcher {
    if let literal = try node.string("String") { return .literal(literal) }
    if let regex = try node.string("Regex") { return try compile(regex, node: node) }
    throw node.mismatch("a pattern object with `String` or `Regex`")
  }

  /// Compiles an Oniguruma pattern, preferring the hand-written scanner when it knows the pattern.
  static func compile(_ pattern: String, node: JSONNode) throws(TokenizerError) -> PatternMatcher {
    if let scanner = KnownPatternScanner(pattern: pattern) { return .scanner(scanner) }
    return .regex(try CompiledRegex(pattern: pattern, file: node.file, key: node.path))
  }

  /// The ranges of the matches of the pattern in `text`, in order.
  func matches(in text: Substring) -> [Range<String.Index>] {
    switch self {
    case .literal(let literal):
      return text.literalRanges(of: literal)
    case .regex(let regex): return regex.matches(in: text)
    case .scanner(let scanner): return scanner.matches(in: text)
    }
  }
}

/// An Oniguruma pattern compiled with ICU.
final class CompiledRegex: @unchecked Sendable {
  // NSRegularExpression is immutable and documented as safe to share between threads.
  private let expression: NSRegularExpression

  init(pattern: String, file: String, key: String) throws(TokenizerError) {
    do {
      expression = try NSRegularExpression(pattern: OnigurumaTranslation.icuPattern(for: pattern))
    } catch {
      throw .invalidPattern(file: file, key: key, pattern: pattern, reason: (error as NSError).localizedDescription)
    }
  }

  func matches(in text: Substring) -> [Range<String.Index>] {
    let string = String(text)
    let found = expression.matches(in: string, range: NSRange(string.startIndex..., in: string))
    var result: [Range<String.Index>] = []
    result.reserveCapacity(found.count)
    // `Range(_:in:)` would round to Character boundaries ("\r\n" is one Character); go through UTF-16 offsets,
    // which fall on scalar boundaries, and back to the caller's indices through UTF-8 offsets.
    let utf16 = string.utf16
    var cursor = utf16.startIndex
    var cursorOffset = 0
    func index(atUTF16 offset: Int) -> String.Index {
      cursor = utf16.index(cursor, offsetBy: offset - cursorOffset)
      cursorOffset = offset
      return cursor
    }
    let base = text.startIndex
    for match in found where match.range.location != NSNotFound {
      let lower = string.utf8.distance(from: string.startIndex, to: index(atUTF16: match.range.location))
      let upper = string.utf8.distance(from: string.startIndex, to: index(atUTF16: match.range.location + match.range.length))
      result.append(text.utf8.index(base, offsetBy: lower)..<text.utf8.index(base, offsetBy: upper))
    }
    return result
  }
}

/// Rewrites the parts of an Oniguruma pattern whose meaning differs in ICU.
///
/// Oniguruma's `\s` is Unicode `White_Space` (including U+000B and U+0085); ICU's leaves those two out.
enum OnigurumaTranslation {
  static let whitespaceClassBody = "\\t-\\r\\x{85}\\p{Z}"

  static func icuPattern(for pattern: String) -> String {
    var output = ""
    var inClass = 0
    var iterator = Array(pattern).makeIterator()
    while let character = iterator.next() {
      if character == "\\" {
        guard let escaped = iterator.next() else {
          output.append(character)
          break
        }
        switch escaped {
        case "s": output += inClass > 0 ? whitespaceClassBody : "[\(whitespaceClassBody)]"
        case "S" where inClass == 0: output += "[^\(whitespaceClassBody)]"
        default:
          output.append(character)
          output.append(escaped)
        }
        continue
      }
      if character == "[" {
        inClass += 1
      } else if character == "]" && inClass > 0 {
        inClass -= 1
      }
      output.append(character)
    }
    return output
  }
}
