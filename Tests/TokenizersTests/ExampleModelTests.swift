import Foundation
import Testing

@testable import Tokenizers

/// The tokenizer trained for `Examples/tiny-llama` fits the random model.
@Suite struct ExampleModelTests {
  static let folder = TokenizerFixture.directory.deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appending(path: "Examples/tiny-llama")

  @Test func tinyLlamaTokenizerFitsTheModel() throws {
    let tokenizer = try Tokenizer.load(directory: Self.folder)
    let config = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: Self.folder.appending(path: "config.json"))) as? [String: Any])
    let vocabularySize = try #require(config["vocab_size"] as? Int)
    #expect(tokenizer.vocabularySize <= vocabularySize)
    #expect(tokenizer.bosTokenID == config["bos_token_id"] as? Int)
    #expect(tokenizer.eosTokenIDs == [try #require(config["eos_token_id"] as? Int)])
    let text = "Hello, how are you? Café 🚀"
    let ids = tokenizer.encode(text)
    #expect(ids.first == tokenizer.bosTokenID)
    #expect(ids.allSatisfy { $0 < vocabularySize })
    #expect(tokenizer.decode(ids, skipSpecialTokens: true) == text)
    let template = try #require(tokenizer.chatTemplate?.template())
    #expect(template.contains("<|start_header_id|>"))
    #expect(tokenizer.encode("<|eot_id|>", addSpecialTokens: false) == [try #require(tokenizer.id(for: "<|eot_id|>"))])
  }
}
