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
  /// what this code writes.
  @Test func committedAdapterIsWhatWeWrite() throws {
    let model = try Self.trainedModel()
    if ProcessInfo.processInfo.environment["QLORA_WRITE_FIXTURES"] == "1" {
      try PEFTAdapterFiles.write(model, to: Self.folder, baseModel: "tiny-llama")
    }
    let scratch = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: scratch) }
    try PEFTAdapterFiles.write(model, to: scratch, baseModel: "tiny-llama")
    for name in [PEFTAdapterFiles.configurationName, PEFTAdapterFiles.weightsName] {
      let ours = try Data(contentsOf: scratch.appending(path: name))
      let committed = try Data(contentsOf: Self.folder.appending(path: name))
      #expect(ours == committed, "\(name) differs from the committed fixture")
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
