import Foundation
import LanguageModels
import QLoRA
import QuantCore
import Testing

/// The whole-model backward against finite differences of the loss, on every quantized base the runtime
/// loads (NF4, FP4, LLM.int8): directional derivatives along random `lora_A` and `lora_B` directions.
@Suite("Whole-model gradients against finite differences")
struct WholeModelFiniteDifferenceTests {
  static let bases: [(String, BitsAndBytesConfig?)] = [
    ("fp32", nil), ("nf4", .fourBit(.nf4)), ("fp4", .fourBit(.fp4, doubleQuant: true)), ("int8", .eightBit()),
  ]

  @Test(arguments: 0..<4)
  func adapterGradients(base: Int) throws {
    let runtime = try LanguageModel.load(
      directory: TrainerTests.modelFolder, quantization: Self.bases[base].1, threads: 1)
    var model = try TrainableModel(model: runtime)
    try model.addAdapters(configuration: LoRAConfiguration(rank: 3, alpha: 6), targets: .allLinear, seed: 13)
    var rng = SeededGenerator(seed: 17)
    for name in model.adapterNames {
      let count = model.adapters[name]?.b.count ?? 0
      model.adapters[name]?.b = GradientCheck.random(count, &rng, scale: 0.2)
    }
    let tokens = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38]
    let labels = tokens.enumerated().map { $0.offset < 3 ? -100 : $0.element }
    var probe = model
    var none: SeededGenerator? = nil
    _ = try probe.accumulateGradients(tokens: tokens, labels: labels, generator: &none)
    for name in [model.adapterNames[0], model.adapterNames[10]] {
      let adapter = try #require(probe.adapters[name])
      func loss(a: [Float], b: [Float]) throws -> Double {
        var copy = model
        copy.adapters[name]?.a = a
        copy.adapters[name]?.b = b
        var none: SeededGenerator? = nil
        return Double(try copy.accumulateGradients(tokens: tokens, labels: labels, generator: &none).loss)
      }
      let errorA = try GradientCheck.worstError(
        at: adapter.a, gradient: adapter.gradientA, step: 5e-3, directions: 2, aligned: true
      ) {
        try loss(a: $0, b: adapter.b)
      }
      let errorB = try GradientCheck.worstError(
        at: adapter.b, gradient: adapter.gradientB, step: 5e-3, directions: 2, aligned: true
      ) {
        try loss(a: adapter.a, b: $0)
      }
      #expect(errorA < 1e-2, "\(Self.bases[base].0) \(name).lora_A")
      #expect(errorB < 1e-2, "\(Self.bases[base].0) \(name).lora_B")
    }
  }
}
