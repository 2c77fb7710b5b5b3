import LanguageModels
import QLoRA
import TestSupport
import Testing

/// Keeping blocks' activations instead of recomputing them (`retainedActivationBytes`) changes no bit of the
/// loss or the gradients, with dropout too, on every architecture the training path supports.
@Suite("Retained activations give the recomputed gradients")
struct ActivationRetentionTests {
  static func gradients(
    _ model: TrainableModel, budget: Int, dropoutSeed: UInt64?
  ) throws -> (loss: Float, gradients: [String: [Float]], retained: Int) {
    var model = model
    model.retainedActivationBytes = budget
    let tokens = (0..<12).map { ($0 * 5 + 2) % 40 }
    var generator: SeededGenerator? = dropoutSeed.map { SeededGenerator(seed: $0) }
    let loss = try model.accumulateGradients(tokens: tokens, labels: tokens, generator: &generator).loss
    var gradients = [String: [Float]]()
    for (name, adapter) in model.adapters { gradients[name] = adapter.gradientA + adapter.gradientB }
    return (loss, gradients, model.retainedBlocks)
  }

  static func model(_ name: String, dropout: Float) throws -> TrainableModel {
    var model = try TrainableModel(
      model: try LanguageModel.load(directory: TestFiles.fixture("qlora/\(name)"), threads: 2))
    try model.addAdapters(
      configuration: LoRAConfiguration(rank: 4, alpha: 8, dropout: dropout), targets: .allLinear, seed: 9)
    var rng = SeededGenerator(seed: 21)
    for name in model.adapterNames {
      let count = model.adapters[name]?.b.count ?? 0
      model.adapters[name]?.b = GradientCheck.random(count, &rng, scale: 0.3)
    }
    return model
  }

  @Test(arguments: ["tiny-llama-train", "tiny-mistral-window", "tiny-qwen3", "tiny-phi3", "tiny-gemma2"])
  func retainedEqualsRecomputed(_ name: String) throws {
    for (dropout, seed) in [(Float(0), UInt64?.none), (0.2, 4)] {
      let model = try Self.model(name, dropout: dropout)
      let recomputed = try Self.gradients(model, budget: 0, dropoutSeed: seed)
      let all = try Self.gradients(model, budget: Int.max, dropoutSeed: seed)
      #expect(recomputed.retained == 0)
      #expect(all.retained == model.layerCount - 1 && all.retained > 0)
      #expect(all.loss == recomputed.loss, "\(name) dropout \(dropout)")
      let same = all.gradients == recomputed.gradients
      #expect(same, "\(name) dropout \(dropout): retained gradients differ")
      // The budget is a bound: exactly one block's bytes keep one block, a byte less keeps none.
      var probe = model
      probe.retainedActivationBytes = Int.max
      var generator: SeededGenerator? = seed.map { SeededGenerator(seed: $0) }
      let tokens = (0..<12).map { ($0 * 5 + 2) % 40 }
      _ = try probe.accumulateGradients(tokens: tokens, labels: tokens, generator: &generator)
      let perBlock = try #require(probe.lastRetainedBytes) / probe.retainedBlocks
      #expect(perBlock > 0)
      let exact = try Self.gradients(model, budget: perBlock, dropoutSeed: seed)
      let exactSame = exact.gradients == recomputed.gradients
      #expect(exact.retained == 1 && exactSame, "\(name) dropout \(dropout): one retained block")
      #expect(try Self.gradients(model, budget: perBlock - 1, dropoutSeed: seed).retained == 0)
    }
  }
}
