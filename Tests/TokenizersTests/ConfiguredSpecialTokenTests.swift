import Foundation
import Testing

@testable import Tokenizers

/// Special tokens named only by `tokenizer_config.json`, `special_tokens_map.json` or `added_tokens_decoder`,
/// against what `Tools/fixtures/make_special_token_fixtures.py` recorded from transformers.
@Suite struct ConfiguredSpecialTokenTests {
  static let directory = TokenizerFixture.directory.appending(path: "special-tokens")
  static let scenarios = [
    "map-only", "config-only", "map-overrides-config", "decoder-ignores-map", "decoder-new-token",
    "vocabulary-token-named",
  ]

  @Test(arguments: scenarios) func addsWhatTransformersAdds(_ scenario: String) throws {
    let folder = Self.directory.appending(path: scenario)
    let expected = try #require(try TokenizerFixture.json(folder.appending(path: "expected.json")) as? [String: Any])
    let tokenizer = try Tokenizer.load(directory: folder)
    #expect(tokenizer.vocabularySize == expected["size"] as? Int)
    for (token, id) in try #require(expected["ids"] as? [String: Int]) {
      #expect(tokenizer.id(for: token) == id, "\(token)")
    }
    #expect(tokenizer.bosToken == expected["bos"] as? String)
    #expect(tokenizer.eosToken == expected["eos"] as? String)
    #expect(tokenizer.padToken == expected["pad"] as? String)
    for entry in try #require(expected["cases"] as? [[String: Any]]) {
      let text = try #require(entry["text"] as? String)
      let ids = tokenizer.encode(text)
      #expect(ids == entry["ids"] as? [Int], "\(text)")
      #expect(tokenizer.decode(ids, skipSpecialTokens: true) == entry["decode_skip"] as? String, "\(text)")
    }
  }

  @Test func modelMaxLengthOutOfRangeMeansNoLimit() throws {
    let folder = FileManager.default.temporaryDirectory.appending(path: "max-length-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    for (value, expected) in [("1e30", nil), ("-1e30", nil), ("-5", nil), ("2048", 2048), ("4096.0", 4096)] as [(String, Int?)] {
      try Data(#"{"model_max_length": \#(value)}"#.utf8).write(to: folder.appending(path: "tokenizer_config.json"))
      #expect(try TokenizerConfiguration.load(directory: folder).modelMaxLength == expected, "\(value)")
    }
  }
}
