import Foundation
import LanguageModels
import QLoRA
import TestSupport
import Testing

/// Training parity with peft beyond Llama: Mistral with a sliding window shorter than the sequence (6 of
/// 20 tokens), Qwen3 (RMSNorm over each query and key head before RoPE) and Phi-3 (fused `qkv_proj` and
/// `gate_up_proj`, adapted as peft adapts them: one adapter per fused linear; and as Phi-4-mini configures it, half
/// of each head rotated with LongRoPE's long factors, the sequence being longer than the pretraining context) and
/// Gemma 2 (scaled embeddings,
/// sandwich norms, GELU-tanh gate, attention and final logit soft-capping, alternating sliding and full
/// attention, tied lm_head). Each a tiny random model with a
/// peft adapter on every linear (r 4, alpha 8, non-zero lora_B): logits, loss and every lora_A/lora_B
/// gradient (fixtures: `Tools/fixtures/make_qlora_fixtures.py`, `other_architectures`).
@Suite("Whole-model LoRA parity with peft: Mistral sliding window, Qwen3, Phi-3 (with LongRoPE), Gemma 2")
struct ArchitectureParityTests {
  static func load(_ name: String) throws -> TrainableModel {
    let model = try LanguageModel.load(directory: TestFiles.fixture("qlora/\(name)"), threads: 2)
    var trainable = try TrainableModel(model: model)
    let (configuration, adapters) = try PEFTAdapterFiles.read(from: TestFiles.fixture("qlora/\(name)-peft-adapter"))
    try trainable.setAdapters(
      adapters, configuration: configuration.lora, targets: TargetModules(names: configuration.targetModules))
    return trainable
  }

  @Test(arguments: [
    ("tiny-mistral-window", 14), ("tiny-qwen3", 14), ("tiny-phi3", 8), ("tiny-phi3-longrope", 8), ("tiny-gemma2", 14),
  ])
  func lossLogitsAndGradientsMatchPeft(_ name: String, linears: Int) throws {
    let expected = try Fixture("\(name)-peft-expected.safetensors")
    var model = try Self.load(name)
    #expect(model.adapterNames.count == linears)
    let tokens = try expected.ints("input_ids")
    #expect(Fixture.relativeError(try model.logits(tokens), try expected.floats("logits")) < 1e-5)
    var noDropout: SeededGenerator? = nil
    let result = try model.accumulateGradients(
      tokens: tokens, labels: try expected.ints("labels"), generator: &noDropout)
    #expect(Fixture.relativeError([result.loss], try expected.floats("loss")) < 1e-5)
    try expected.expectAdapterGradients(of: model)
  }

  /// Without the window (or the q/k norms) the same weights give other logits: the feature is exercised.
  @Test func theWindowChangesTheResult() throws {
    let expected = try Fixture("tiny-mistral-window-peft-expected.safetensors")
    let tokens = try expected.ints("input_ids")
    var op = try CausalAttentionOp(heads: 2, kvHeads: 1, headDim: 4)
    let q = (0..<(tokens.count * 8)).map { Float($0 % 7) / 3 - 1 }
    let kv = (0..<(tokens.count * 4)).map { Float($0 % 5) / 2 - 1 }
    let full = try op.forward(q: q, k: kv, v: kv).output
    op.window = 6
    let windowed = try op.forward(q: q, k: kv, v: kv).output
    // The first 6 positions see the same keys; later ones do not.
    #expect(Array(full.prefix(6 * 8)) == Array(windowed.prefix(6 * 8)))
    #expect(Array(full.suffix(8)) != Array(windowed.suffix(8)))
  }
}
