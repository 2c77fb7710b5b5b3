import BNBPatchKit
import Foundation
import LanguageModels
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import BNBGenerateKit

/// The library's own greedy loop: argmax of `logits(for:cache:)`, stopping at an end-of-sequence id.
func libraryGreedy(_ model: LanguageModel, prompt: [Int], count: Int) throws -> [Int] {
  let cache = model.makeCache()
  var logits = try model.logits(for: prompt, cache: cache)
  var ids: [Int] = []
  for _ in 0..<count {
    var best = 0
    for index in logits.indices where logits[index] > logits[best] { best = index }
    ids.append(best)
    if model.configuration.eosTokenIDs.contains(best) { break }
    logits = try model.logits(for: [best], cache: cache)
  }
  return ids
}

@Suite("bnb-generate")
struct GenerateCommandTests {
  static let prompt = [1, 17, 204, 99, 5]

  @Test func greedyIDsEqualTheLibrary() async throws {
    let result = await Commands.generate([
      "--model", Commands.tinyLlama, "--prompt-ids", "1,17,204,99,5", "--max-new-tokens", "12", "--json",
    ])
    #expect(result.status == 0, "\(result.error)")
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama)
    #expect(result.generatedIDs == (try libraryGreedy(model, prompt: Self.prompt, count: 12)))
    #expect(result.report["prompt_ids"] as? [Int] == Self.prompt)
    let figures = try #require(result.report["figures"] as? [String: Any])
    #expect(figures["prefill_tokens"] as? Int == 5)
    #expect(figures["generated_tokens"] as? Int == result.generatedIDs.count)
    #expect((figures["peak_rss_bytes"] as? Int ?? 0) > 0)
  }

  @Test func plainOutputWithoutTokenizerPrintsIDsAndFigures() async throws {
    let folder = try Commands.tinyLlamaWithoutTokenizer()
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = await Commands.generate(["--model", folder.path, "--prompt-ids", "1,2,3", "--max-new-tokens", "4"])
    #expect(result.status == 0)
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama)
    let ids = try libraryGreedy(model, prompt: [1, 2, 3], count: 4)
    #expect(result.output == ids.map(String.init).joined(separator: ",") + "\n")
    #expect(result.error.contains("prefill 3 tokens"))
    #expect(result.error.contains("tok/s"))
    #expect(result.error.contains("peak RSS"))
  }

  @Test func logitsOutHoldsEveryPromptPosition() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appending(path: "logits.safetensors")
    let result = await Commands.generate([
      "--model", Commands.tinyLlama, "--prompt-ids", "1,17,204,99,5", "--max-new-tokens", "0", "--logits-out", file.path,
      "--json",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.generatedIDs.isEmpty)
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama)
    let expected = try model.logitsForAllPositions(for: Self.prompt, cache: model.makeCache())
    let stored = try SafeTensorsFile(contentsOf: file)
    let tensor = try #require(try stored.tensor(named: "logits"))
    #expect(tensor.dtype == .float32)
    #expect(tensor.shape == [1, 5, model.configuration.vocabularySize])
    #expect(try tensor.floats() == expected)
  }

  @Test func logitsOutWithGenerationKeepsTheGreedyIDs() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appending(path: "logits.safetensors")
    let withLogits = await Commands.generate([
      "--model", Commands.tinyLlama, "--prompt-ids", "1,17,204,99,5", "--max-new-tokens", "6", "--json",
      "--logits-out", file.path,
    ])
    let without = await Commands.generate([
      "--model", Commands.tinyLlama, "--prompt-ids", "1,17,204,99,5", "--max-new-tokens", "6", "--json",
    ])
    #expect(withLogits.status == 0)
    #expect(withLogits.generatedIDs == without.generatedIDs)
    #expect(!without.generatedIDs.isEmpty)
  }

  @Test func seededSamplingIsReproducible() async throws {
    let arguments = [
      "--model", Commands.tinyLlama, "--prompt-ids", "1,2,3", "--max-new-tokens", "16", "--json", "--temperature",
      "1.5", "--top-k", "200", "--top-p", "0.98",
    ]
    let first = await Commands.generate(arguments + ["--seed", "11"])
    let again = await Commands.generate(arguments + ["--seed", "11"])
    let other = await Commands.generate(arguments + ["--seed", "12"])
    #expect(first.status == 0)
    #expect(first.generatedIDs.count == 16)
    #expect(first.generatedIDs == again.generatedIDs)
    #expect(first.generatedIDs != other.generatedIDs)
  }
}
