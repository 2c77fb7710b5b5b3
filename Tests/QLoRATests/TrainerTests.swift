import Foundation
import LanguageModels
import QLoRA
import TestSupport
import Testing

@Suite("Training loop on the tiny Llama")
struct TrainerTests {
  static let modelFolder = TestFiles.fixture("qlora/tiny-llama-train")

  static func freshModel(rank: Int = 8, dropout: Float = 0) throws -> TrainableModel {
    var model = try TrainableModel(model: try LanguageModel.load(directory: Self.modelFolder, threads: 1))
    try model.addAdapters(
      configuration: LoRAConfiguration(rank: rank, alpha: Float(2 * rank), dropout: dropout), targets: .allLinear, seed: 5)
    return model
  }

  /// A small repetitive data set: counting patterns with a masked "prompt".
  static let examples: [TrainingExample] = (0..<4).map { offset in
    let tokens = (0..<12).map { (offset * 7 + $0 * 3) % 96 }
    return TrainingExample(tokens: tokens, labels: tokens.enumerated().map { $0.offset < 2 ? -100 : $0.element })
  }

  @Test func trainingDrivesTheLossDownByEightyPercent() throws {
    let settings = TrainingSettings(
      learningRate: 1e-2, schedule: .cosine, warmupSteps: 5, totalSteps: 80, sequencesPerStep: 2, maxGradientNorm: 1,
      seed: 1)
    var trainer = try LoRATrainer(model: try Self.freshModel(), examples: Self.examples, settings: settings)
    let initial = try trainer.evaluate(Self.examples)
    for _ in 0..<80 { _ = try trainer.trainStep() }
    let final = try trainer.evaluate(Self.examples)
    #expect(initial > 4)
    #expect(final < 0.2 * initial, "loss \(initial) → \(final)")
  }

  @Test func resumeIsBitExact() throws {
    let settings = TrainingSettings(
      learningRate: 5e-3, schedule: .linear, warmupSteps: 2, totalSteps: 6, sequencesPerStep: 3, maxGradientNorm: 0.5,
      adamW: .init(weightDecay: 0.01), seed: 9)
    var straight = try LoRATrainer(model: try Self.freshModel(dropout: 0.1), examples: Self.examples, settings: settings)
    for _ in 0..<6 { _ = try straight.trainStep() }

    var first = try LoRATrainer(model: try Self.freshModel(dropout: 0.1), examples: Self.examples, settings: settings)
    for _ in 0..<3 { _ = try first.trainStep() }
    let saved = try JSONDecoder().decode(LoRATrainer.TrainerState.self, from: try JSONEncoder().encode(first.state))
    var resumed = try LoRATrainer(model: try Self.freshModel(dropout: 0.1), examples: Self.examples, settings: settings)
    try resumed.restore(saved)
    for _ in 0..<3 { _ = try resumed.trainStep() }
    #expect(resumed.step == 6)
    #expect(resumed.state == straight.state)
    #expect(straight.state.factors.values.contains { $0[1].contains { $0 != 0 } })
  }

  @Test func nonFiniteLossStopsWithoutUpdating() throws {
    var model = try Self.freshModel()
    let name = model.adapterNames[0]
    model.adapters[name]?.a[0] = .nan
    var trainer = try LoRATrainer(model: model, examples: Self.examples, settings: TrainingSettings(seed: 2))
    let before = trainer.state
    #expect(throws: QLoRAError.nonFiniteLoss(step: 1)) { try trainer.trainStep() }
    #expect(trainer.state.factors == before.factors)
    #expect(trainer.step == 0)
  }

  @Test func badTrainingInputIsRejected() throws {
    let model = try Self.freshModel()
    #expect(throws: QLoRAError.self) { try LoRATrainer(model: model, examples: [], settings: TrainingSettings()) }
    let long = TrainingExample(tokens: Array(repeating: 3, count: 65))
    #expect(throws: QLoRAError.self) { try LoRATrainer(model: model, examples: [long], settings: TrainingSettings()) }
    #expect(throws: QLoRAError.self) {
      try LoRATrainer(model: model, examples: Self.examples, settings: TrainingSettings(sequencesPerStep: 0))
    }
  }

  /// With every label masked but one, only that prediction is trained: tokens after it do not change the
  /// gradients (causal masking), while changing the trained label does.
  @Test func maskedPositionsContributeNoGradient() throws {
    var model = try Self.freshModel()
    for name in model.adapterNames {
      let count = model.adapters[name]?.b.count ?? 0
      model.adapters[name]?.b = Array(repeating: 0.01, count: count)
    }
    func gradients(labels: [Int], tokens: [Int]) throws -> [Float] {
      var probe = model
      var none: SeededGenerator? = nil
      _ = try probe.accumulateGradients(tokens: tokens, labels: labels, generator: &none)
      return probe.adapterNames.flatMap { name in probe.adapters[name].map { $0.gradientA + $0.gradientB } ?? [] }
    }
    let tokens = [4, 8, 15, 16, 23, 42]
    let masked = [-100, -100, -100, 16, -100, -100]
    let base = try gradients(labels: masked, tokens: tokens)
    let laterTokensChanged = try gradients(labels: masked, tokens: [4, 8, 15, 16, 90, 91])
    #expect(base == laterTokensChanged)
    #expect(base.contains { $0 != 0 })
    #expect(try gradients(labels: [-100, -100, -100, 17, -100, -100], tokens: tokens) != base)
  }
}
