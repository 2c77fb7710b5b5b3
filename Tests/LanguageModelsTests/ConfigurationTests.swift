import Foundation
import LanguageModels
import QuantCore
import Testing

/// `config.json` parsing: architectures, defaults, RoPE blocks under both keys, and typed errors.
@Suite("Model configuration")
struct ConfigurationTests {
  static let base = """
    "vocab_size": 128, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2
    """

  static func parse(_ extra: String, type: String = "llama") throws -> ModelConfiguration {
    try ModelConfiguration(jsonText: "{\"model_type\": \"\(type)\", \(base)\(extra.isEmpty ? "" : ", " + extra)}")
  }

  @Test func llamaDefaultsAndEOSList() throws {
    let config = try Self.parse(#""eos_token_id": [5, 7], "bos_token_id": 1, "rope_theta": 500000.0"#)
    #expect(config.architecture == .llama)
    #expect(config.headDimension == 16)
    #expect(config.eosTokenIDs == [5, 7])
    #expect(config.bosTokenID == 1)
    #expect(config.rope.kind == .default)
    #expect(config.rope.theta == 500000)
    #expect(config.rmsNormEpsilon == 1e-6)
    #expect(config.layerTypes == [.full, .full])
    #expect(!config.tieWordEmbeddings)
  }

  @Test func integerEOSBecomesList() throws {
    #expect(try Self.parse(#""eos_token_id": 2"#).eosTokenIDs == [2])
  }

  @Test func ropeScalingAndRopeParametersAgree() throws {
    let block =
      #""rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64"#
    let old = try Self.parse(#""rope_theta": 10000.0, "rope_scaling": {\#(block)}"#)
    let new = try Self.parse(#""rope_parameters": {\#(block), "rope_theta": 10000.0}"#)
    #expect(old.rope == new.rope)
    #expect(old.rope.kind == .llama3)
    #expect(old.rope.originalMaxPositionEmbeddings == 64)
    // `type` is the older spelling of `rope_type`.
    let typed = try Self.parse(#""rope_scaling": {"type": "linear", "factor": 2.0}"#)
    #expect(typed.rope.kind == .linear)
    #expect(typed.rope.factor == 2)
  }

  @Test func gemma2Defaults() throws {
    let config = try Self.parse(#""head_dim": 16, "sliding_window": 4"#, type: "gemma2")
    #expect(config.tieWordEmbeddings)
    #expect(config.activation == .geluTanh)
    #expect(config.attentionLogitSoftcap == 50)
    #expect(config.finalLogitSoftcap == 30)
    #expect(config.layerTypes == [.sliding, .full])
    #expect(config.attentionScale == 1.0 / 16)  // query_pre_attn_scalar 256 by default
  }

  /// An explicit `null` turns a feature off instead of taking the architecture's default.
  @Test func explicitNullOverridesDefaults() throws {
    let mistral = try Self.parse(#""sliding_window": null"#, type: "mistral")
    #expect(mistral.slidingWindow == nil && mistral.layerTypes == [.full, .full])
    #expect(try Self.parse("", type: "mistral").slidingWindow == 4096)
    let gemma = try Self.parse(
      #""head_dim": 16, "final_logit_softcapping": null, "attn_logit_softcapping": null"#, type: "gemma2")
    #expect(gemma.finalLogitSoftcap == nil && gemma.attentionLogitSoftcap == nil)
  }

  /// Gemma's `sqrt(hidden_size)` is rounded to the embedding's dtype, as transformers does.
  @Test func gemmaEmbeddingScaleFollowsTheEmbeddingDType() {
    // torch.tensor(3584 ** 0.5).to(dtype): 59.75 (bfloat16), 59.875 (float16), 59.866519927978516 (float32).
    #expect(LanguageModel.embeddingScale(hiddenSize: 3584, dtype: .bfloat16) == 59.75)
    #expect(LanguageModel.embeddingScale(hiddenSize: 3584, dtype: .float16) == 59.875)
    #expect(LanguageModel.embeddingScale(hiddenSize: 3584, dtype: .float32) == 59.866519927978516)
    #expect(LanguageModel.embeddingScale(hiddenSize: 2304, dtype: .bfloat16) == 48)
  }

  @Test func qwenSlidingOnlyWhenEnabled() throws {
    #expect(try Self.parse(#""sliding_window": 8"#, type: "qwen2").slidingWindow == nil)
    let enabled = try Self.parse(#""sliding_window": 8, "use_sliding_window": true, "max_window_layers": 1"#, type: "qwen2")
    #expect(enabled.layerTypes == [.full, .sliding])
    #expect(enabled.attentionBias)
  }

  @Test func architectureFromClassName() throws {
    let config = try ModelConfiguration(jsonText: "{\"architectures\": [\"Phi3ForCausalLM\"], \(Self.base)}")
    #expect(config.architecture == .phi3)
    #expect(config.rmsNormEpsilon == 1e-5)
  }

  @Test func unsupportedArchitectureListsTheSupportedOnes() {
    #expect(
      throws: LanguageModelError.unsupportedArchitecture(
        file: "config.json", found: "gpt2", supported: ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2"])
    ) {
      try Self.parse("", type: "gpt2")
    }
  }

  @Test func badKeysNameTheKey() {
    #expect(
      throws: LanguageModelError.invalidConfiguration(
        file: "config.json", key: "hidden_size", reason: "expected an integer, found a string")
    ) {
      try ModelConfiguration(jsonText: #"{"model_type": "llama", "hidden_size": "x"}"#)
    }
    #expect(
      throws: LanguageModelError.invalidConfiguration(
        file: "config.json", key: "num_key_value_heads", reason: "3 does not divide num_attention_heads (4)")
    ) {
      try Self.parse(#""num_key_value_heads": 3"#.replacingOccurrences(of: "x", with: ""))
    }
    #expect(throws: LanguageModelError.self) {
      try Self.parse(#""rope_scaling": {"rope_type": "mrope"}"#)
    }
    // Found by the model-config fuzzer: 669E6 layers spent minutes building per-layer tables.
    #expect(
      throws: LanguageModelError.invalidConfiguration(
        file: "config.json", key: "num_hidden_layers", reason: "669000000 exceeds the 4096 layers this runtime supports")
    ) {
      try ModelConfiguration(
        jsonText:
          #"{"model_type": "gemma2", "vocab_size": 128, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 669E6}"#
      )
    }
    // Found by the model-config fuzzer: a context length beyond Int (or not whole) is an error, not a trap.
    for value in ["1655555555555555555555555555555555555555555555", "8192.5", "-4"] {
      let rope =
        #""rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": "#
      #expect(throws: LanguageModelError.self, "\(value)") { try Self.parse(rope + value + "}") }
    }
  }
}
