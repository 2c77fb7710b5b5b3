import Foundation
import Testing

@testable import Tokenizers

/// Trained tokenizers of each family against transformers' `PreTrainedTokenizerFast` on the edge-case corpus.
@Suite struct TransformersParityTests {
  static let families = ["gpt2", "llama2", "llama2-legacy", "llama3", "qwen2", "subword"]

  @Test(arguments: families) func familyMatchesTransformers(_ family: String) throws {
    let directory = TokenizerFixture.directory.appending(path: family)
    let tokenizer = try Tokenizer.load(directory: directory)
    let object = try #require(try TokenizerFixture.json(directory.appending(path: "expected.json")) as? [String: Any])
    let fixture = TokenizerFixture(object)
    #expect(fixture.cases.count > 40)
    let failures = fixture.mismatches(of: tokenizer)
    #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.prefix(15).joined(separator: "\n"))")
  }

  static func variants() -> [[String: Any]] {
    let url = TokenizerFixture.directory.appending(path: "variants.json")
    let root = try? TokenizerFixture.json(url) as? [String: Any]
    return root?["variants"] as? [[String: Any]] ?? []
  }

  static let variantNames: [String] = variants().map { $0["name"] as? String ?? "?" }

  @Test(arguments: variantNames) func componentVariantMatchesTransformers(_ name: String) throws {
    let variant = try #require(Self.variants().first { $0["name"] as? String == name })
    let base = try #require(variant["base"] as? String)
    let baseURL = TokenizerFixture.directory.appending(path: base).appending(path: "tokenizer.json")
    var json = try #require(try TokenizerFixture.json(baseURL) as? [String: Any])
    for (key, value) in variant["override"] as? [String: Any] ?? [:] { json[key] = value }
    let data = try JSONSerialization.data(withJSONObject: json)
    let tokenizer = try Tokenizer(tokenizerJSON: data, file: "\(name)/tokenizer.json")
    let fixture = TokenizerFixture(variant)
    #expect(!fixture.cases.isEmpty)
    let failures = fixture.mismatches(of: tokenizer)
    #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.prefix(15).joined(separator: "\n"))")
  }
}
