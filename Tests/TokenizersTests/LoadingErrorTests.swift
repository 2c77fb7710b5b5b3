import Foundation
import Testing

@testable import Tokenizers

@Suite struct LoadingErrorTests {
  private func load(_ json: String) throws(TokenizerError) -> Tokenizer {
    try Tokenizer(tokenizerJSON: Data(json.utf8), file: "bad/tokenizer.json")
  }

  @Test func truncatedJSONNamesTheFile() {
    #expect {
      _ = try load(#"{"model": {"type": "BPE", "vocab": {"a": 0"#)
    } throws: { error in
      guard case TokenizerError.malformedJSON(let file, _) = error else { return false }
      return file == "bad/tokenizer.json"
    }
  }

  @Test func unknownModelTypeNamesTheType() {
    #expect(throws: TokenizerError.unsupported(file: "bad/tokenizer.json", component: "model", type: "WordPiece")) {
      _ = try load(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#)
    }
  }

  @Test func unknownNormalizerTypeNamesTheType() {
    #expect(throws: TokenizerError.unsupported(file: "bad/tokenizer.json", component: "normalizer", type: "Precompiled")) {
      _ = try load(#"{"normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#)
    }
  }

  @Test func mergeOfUnknownTokenNamesTheMerge() {
    #expect(throws: TokenizerError.unknownToken(file: "bad/tokenizer.json", key: "model.merges[0]", token: "b")) {
      _ = try load(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}"#)
    }
  }

  /// Found by the tokenizer-json fuzzer: a merged token's id beyond Int32 trapped while the merges were built.
  @Test func vocabularyIdBeyondInt32NamesTheToken() {
    #expect(
      throws: TokenizerError.invalidValue(
        file: "bad/tokenizer.json", key: "model.vocab.ab", expected: "an integer id in 0…2147483647")
    ) {
      _ = try load(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 55644444444444}, "merges": ["a b"]}}"#)
    }
  }

  @Test func minimalBPEEncodesWithMerges() throws {
    let tokenizer = try load(
      #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "abb": 3}, "merges": ["a b", ["ab", "b"]]}}"#)
    #expect(tokenizer.encode("abbab") == [3, 2])
    #expect(tokenizer.decode([3, 2]) == "abb ab")
  }
}
