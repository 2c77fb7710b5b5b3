import LanguageModels
import QLoRA
import TestSupport
import Testing

/// Keeping blocks' activations instead of recomputing them (`retainedActivationBytes`) changes no bit of the
/// loss or the gradients, with dropout too, on every architecture the training path supports.
@Suite("Retained activations give the recomputed gradients")
struct ActivationRetentionTests {
  static func gradients(
    _ model: TrainableModel, budget: Int, dropoutSeed: UInt64?, precision: SavedActivationPrecision = .float32
  ) throws -> (loss: Float, gradients: [String: [Float]], retained: Int, bytes: Int) {
    var model = model
    model.retainedActivationBytes = budget
    model.savedActivationPrecision = precision
    let tokens = (0..<12).map { ($0 * 5 + 2) % 40 }
    var generator: SeededGenerator? = dropoutSeed.map { SeededGenerator(seed: $0) }
    let loss = try model.accumulateGradients(tokens: tokens, labels: tokens, generator: &generator).loss
    var gradients = [String: [Float]]()
    for (name, adapter) in model.adapters { gradients[name] = adapter.gradientA + adapter.gradientB }
    return (loss, gradients, model.retainedBlocks, model.lastRetainedBytes ?? 0)
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

  /// bfloat16 saved activations: kept and recomputed blocks give the same bits, the loss is float32's, the
  /// gradients are within bfloat16 rounding of float32's but not equal to them, and a kept block takes fewer
  /// bytes.
  @Test(arguments: ["tiny-llama-train", "tiny-mistral-window", "tiny-qwen3", "tiny-phi3", "tiny-gemma2"])
  func bfloat16SavedActivations(_ name: String) throws {
    for (dropout, seed) in [(Float(0), UInt64?.none), (0.2, 4)] {
      let model = try Self.model(name, dropout: dropout)
      let exact = try Self.gradients(model, budget: Int.max, dropoutSeed: seed)
      let recomputed = try Self.gradients(model, budget: 0, dropoutSeed: seed, precision: .bfloat16)
      let all = try Self.gradients(model, budget: Int.max, dropoutSeed: seed, precision: .bfloat16)
      #expect(all.retained == model.layerCount - 1 && recomputed.retained == 0)
      #expect(all.loss == recomputed.loss && all.loss == exact.loss, "\(name) dropout \(dropout)")
      let same = all.gradients == recomputed.gradients
      #expect(same, "\(name) dropout \(dropout): kept and recomputed bfloat16 gradients differ")
      #expect(recomputed.gradients != exact.gradients, "\(name): nothing was rounded")
      for (adapter, reference) in exact.gradients {
        let rounded = try #require(recomputed.gradients[adapter])
        let difference = zip(rounded, reference).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        let norm = reference.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        #expect(difference <= 2e-2 * norm + 1e-7, "\(name) \(adapter): \(difference) against \(norm)")
      }
      // Half of the narrowed fields' bytes (these tiny blocks also keep rows of log-sum-exp, inverse RMS and the
      // adapters' r-wide projections, proportionally more than a 1B block, which keeps 52 %).
      #expect(Double(all.bytes) < 0.8 * Double(exact.bytes), "\(name): \(all.bytes) bytes against \(exact.bytes)")
    }
  }
}
