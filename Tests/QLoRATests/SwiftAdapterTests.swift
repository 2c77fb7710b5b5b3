import Foundation
import LanguageModels
import QLoRA
import TestSupport
import Testing

/// An adapter written by our code (q/v/down only, r 2, alpha 5, rsLoRA, trained a few steps so B ≠ 0) and
/// loaded by `PeftModel.from_pretrained` in Tools/fixtures/make_qlora_fixtures.py: peft's logits are recorded
/// and must equal ours.
@Suite("Adapters written here, loaded by peft")
struct SwiftAdapterTests {
  static let folder = TestFiles.fixture("qlora/swift-adapter")

  static func trainedModel() throws -> TrainableModel {
    var model = try TrainableModel(model: try LanguageModel.load(directory: PEFTParityTests.modelFolder, threads: 1))
    try model.addAdapters(
      configuration: LoRAConfiguration(rank: 2, alpha: 5, dropout: 0.05, useRSLoRA: true),
      targets: TargetModules(names: ["q_proj", "v_proj", "down_proj"]), seed: 21)
    var trainer = try LoRATrainer(
      model: model, examples: TrainerTests.examples,
      settings: TrainingSettings(learningRate: 5e-2, totalSteps: 4, sequencesPerStep: 2, seed: 4))
    for _ in 0..<4 { _ = try trainer.trainStep() }
    return trainer.model
  }

  /// Regenerates the committed adapter (`QLORA_WRITE_FIXTURES=1`); otherwise checks the committed one is
  /// what this code trains and writes.
  @Test func committedAdapterIsWhatWeWrite() throws {
    let model = try Self.trainedModel()
    if ProcessInfo.processInfo.environment["QLORA_WRITE_FIXTURES"] == "1" {
      try PEFTAdapterFiles.write(model, to: Self.folder, baseModel: "tiny-llama")
    }
    let scratch = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: scratch) }
    try PEFTAdapterFiles.write(model, to: scratch, baseModel: "tiny-llama")
    let configuration = PEFTAdapterFiles.configurationName
    #expect(
      try Data(contentsOf: scratch.appending(path: configuration))
        == Data(contentsOf: Self.folder.appending(path: configuration)))
    // Training rounds differently on other CPUs' kernels: the factors agree to float tolerance, not bits.
    let ours = try PEFTAdapterFiles.read(from: scratch).adapters
    let committed = try PEFTAdapterFiles.read(from: Self.folder).adapters
    #expect(Set(ours.keys) == Set(committed.keys))
    for (name, adapter) in committed {
      let mine = try #require(ours[name])
      #expect(Fixture.relativeError(mine.a, adapter.a) < 1e-4, "\(name).lora_A")
      #expect(Fixture.relativeError(mine.b, adapter.b) < 1e-4, "\(name).lora_B")
    }
  }

  @Test func peftComputesOurLogits() throws {
    let expected = try Fixture("swift-adapter-peft-logits.safetensors")
    var model = try TrainableModel(model: try LanguageModel.load(directory: PEFTParityTests.modelFolder, threads: 1))
    let (configuration, adapters) = try PEFTAdapterFiles.read(from: Self.folder)
    #expect(configuration.lora == LoRAConfiguration(rank: 2, alpha: 5, dropout: 0.05, useRSLoRA: true))
    #expect(adapters.count == 6)
    #expect(adapters.values.allSatisfy { adapter in adapter.b.contains { $0 != 0 } })
    try model.setAdapters(
      adapters, configuration: configuration.lora, targets: TargetModules(names: configuration.targetModules))
    let logits = try model.logits(try expected.ints("input_ids"))
    #expect(Fixture.relativeError(logits, try expected.floats("logits")) < 1e-5)
  }
}
