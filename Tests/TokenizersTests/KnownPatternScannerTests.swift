import Foundation
import Testing

@testable import Tokenizers

/// The hand-written scanner matches exactly what ICU (with Oniguruma's `\s`) matches for the patterns it knows.
@Suite struct KnownPatternScannerTests {
  static let patterns = [PreTokenizer.gpt2Pattern, KnownPatternScanner.llama3Pattern, KnownPatternScanner.qwen2Pattern]

  @Test func fixtureFilesUseTheKnownPatterns() throws {
    for family in ["llama3", "qwen2"] {
      let url = TokenizerFixture.directory.appending(path: family).appending(path: "tokenizer.json")
      let text = try String(contentsOf: url, encoding: .utf8)
      let pattern = family == "llama3" ? KnownPatternScanner.llama3Pattern : KnownPatternScanner.qwen2Pattern
      let escaped = pattern.replacingOccurrences(of: "\\", with: "\\\\")
      #expect(text.contains(escaped), "\(family) does not use the scanner's pattern")
    }
  }

  @Test(arguments: patterns) func scannerAgreesWithICU(_ pattern: String) throws {
    let scanner = try #require(KnownPatternScanner(pattern: pattern))
    let regex = try CompiledRegex(pattern: pattern, file: "test", key: "pattern")
    let object = try #require(
      try TokenizerFixture.json(TokenizerFixture.directory.appending(path: "gpt2/expected.json")) as? [String: Any])
    var texts = TokenizerFixture(object).cases.map(\.text)
    texts += ["'S 'LL 'Re \u{17F}", "x  \n\n  y", "a\u{2028}b\u{85}c", "12345678", " \t\r\n!?\r\n", "(word 'twas"]
    for text in texts {
      func offsets(_ ranges: [Range<String.Index>]) -> [Int] {
        ranges.flatMap { [$0.lowerBound, $0.upperBound].map { text.utf8.distance(from: text.startIndex, to: $0) } }
      }
      #expect(offsets(scanner.matches(in: text[...])) == offsets(regex.matches(in: text[...])), "\(text.debugDescription)")
    }
  }
}
