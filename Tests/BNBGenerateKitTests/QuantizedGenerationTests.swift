import BNBPatchKit
import Foundation
import LanguageModels
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import BNBGenerateKit

@Suite("bnb-generate on quantized models")
struct QuantizedGenerationTests {
  static let job = TestFiles.repository.appending(path: "Examples/quant.yaml").path
  static let arguments = ["--prompt-ids", "1,17,204,99,5", "--max-new-tokens", "10", "--json"]

  @Test func quantizedAtLoadEqualsTheLibrary() async throws {
    let result = await Commands.generate(
      ["--model", Commands.tinyLlama, "--load-in-4bit", "--bnb-4bit-use-double-quant"] + Self.arguments)
    #expect(result.status == 0, "\(result.error)")
    let model = try LanguageModel.load(
      directory: TestFiles.tinyLlama, quantization: .fourBit(.nf4, doubleQuant: true))
    #expect(result.generatedIDs == (try libraryGreedy(model, prompt: [1, 17, 204, 99, 5], count: 10)))
    #expect(model.memoryFootprint().weightBytesByFormat.keys.contains("nf4"))
  }

  @Test func eightBitAtLoadEqualsTheLibrary() async throws {
    let result = await Commands.generate(["--model", Commands.tinyLlama, "--load-in-8bit"] + Self.arguments)
    #expect(result.status == 0, "\(result.error)")
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama, quantization: .eightBit())
    #expect(result.generatedIDs == (try libraryGreedy(model, prompt: [1, 17, 204, 99, 5], count: 10)))
  }

  @Test func bnbPatchOutputGivesTheQuantizedAtLoadIDsAndLogits() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appending(path: "tiny-llama-nf4")
    let patch = await BNBPatch.run(
      arguments: ["--config", Self.job, "-o", output.path, "--quiet"],
      console: .capturing())
    #expect(patch == 0)
    let fromCheckpoint = await Commands.generate(["--model", output.path] + Self.arguments)
    let atLoad = await Commands.generate(["--model", Commands.tinyLlama, "--config", Self.job] + Self.arguments)
    #expect(fromCheckpoint.status == 0, "\(fromCheckpoint.error)")
    #expect(atLoad.status == 0, "\(atLoad.error)")
    #expect(!fromCheckpoint.generatedIDs.isEmpty)
    #expect(fromCheckpoint.generatedIDs == atLoad.generatedIDs)

    let logitsA = folder.appending(path: "a.safetensors").path
    let logitsB = folder.appending(path: "b.safetensors").path
    _ = await Commands.generate(
      ["--model", output.path, "--prompt-ids", "1,17,204,99,5", "--max-new-tokens", "0", "--logits-out", logitsA])
    _ = await Commands.generate([
      "--model", Commands.tinyLlama, "--config", Self.job, "--prompt-ids", "1,17,204,99,5",
      "--max-new-tokens", "0", "--logits-out", logitsB,
    ])
    let a = try storedLogits(logitsA)
    let b = try storedLogits(logitsB)
    #expect(a.count == 5 * 1024)
    #expect(a == b)
  }
}

/// The `logits` tensor of a `--logits-out` file as floats.
func storedLogits(_ path: String) throws -> [Float] {
  let file = try SafeTensorsFile(contentsOf: URL(filePath: path))
  return try #require(try file.tensor(named: "logits")).floats()
}
