import Foundation
import TestSupport
import Testing

@testable import BNBGenerateKit

@Suite("bnb-generate bad input")
struct BadInputTests {
  static let model = ["--model", Commands.tinyLlama]

  @Test func missingAdapterFolderNamesTheFile() async {
    let result = await Commands.generate(Self.model + ["--prompt-ids", "1,2", "--adapter", "/nonexistent/lora"])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("/nonexistent/lora/adapter_config.json"))
  }

  @Test func missingModelFolderNamesTheFile() async {
    let result = await Commands.generate(["--model", "/nonexistent/model", "--prompt-ids", "1"])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("/nonexistent/model"))
  }

  @Test(arguments: [
    ["--prompt-ids", "1,2", "--prompt", "hi"],
    [],
    ["--prompt-ids", "1,x,3"],
    ["--prompt-ids", "1", "--load-in-4bit", "--load-in-8bit"],
    ["--prompt-ids", "1", "--max-new-tokens", "-1"],
    ["--prompt-ids", "1", "--chat"],
  ])
  func usageErrors(_ arguments: [String]) async {
    let result = await Commands.generate(Self.model + arguments)
    #expect(result.status == GenerateExitStatus.usage.rawValue, "\(arguments): \(result.error)")
    #expect(!result.error.isEmpty)
  }

  @Test(arguments: [
    ["--temperature=-1"], ["--temperature", "1", "--top-p", "1.5"], ["--load-in-4bit", "--bnb-4bit-quant-type", "nf5"],
  ])
  func configurationErrors(_ arguments: [String]) async {
    let result = await Commands.generate(Self.model + ["--prompt-ids", "1"] + arguments)
    #expect(result.status == GenerateExitStatus.configuration.rawValue, "\(arguments): \(result.error)")
  }

  @Test func tokenOutsideTheVocabularyIsInvalidInput() async {
    let result = await Commands.generate(Self.model + ["--prompt-ids", "1,5000"])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("5000"))
  }

  @Test func promptLongerThanTheModelIsInvalidInput() async {
    let ids = (0..<300).map { String($0 % 1000) }.joined(separator: ",")
    let result = await Commands.generate(Self.model + ["--prompt-ids", ids])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("max_position_embeddings"))
  }

  @Test func badQuantYAMLIsAConfigurationError() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let job = folder.appending(path: "quant.yaml")
    try "quantization: [not, a, mapping\n".write(to: job, atomically: true, encoding: .utf8)
    let result = await Commands.generate(Self.model + ["--prompt-ids", "1", "--config", job.path])
    #expect(result.status == GenerateExitStatus.configuration.rawValue)
    #expect(result.error.contains("quant.yaml"))
  }

  @Test func textPromptWithoutTokenizerNamesTheFile() async throws {
    let folder = try Commands.tinyLlamaWithoutTokenizer()
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = await Commands.generate(["--model", folder.path, "--prompt", "hello"])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("tokenizer.json"))
  }
}
