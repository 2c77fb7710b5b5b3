/// What a model's `config.json` says, in the terms the runtime uses.
///
/// Read with ``ModelConfiguration/init(contentsOf:)`` or ``ModelConfiguration/init(jsonText:file:)``;
/// transformers' defaults for each architecture fill in absent keys.
public struct ModelConfiguration: Sendable, Equatable {
  /// The decoder families this runtime implements.
  public enum Architecture: String, Sendable, CaseIterable {
    /// Llama 2/3/3.1/3.2 (`LlamaForCausalLM`).
    case llama
    /// Mistral (`MistralForCausalLM`), with `sliding_window`.
    case mistral
    /// Qwen2/2.5 (`Qwen2ForCausalLM`): q/k/v biases.
    case qwen2
    /// Qwen3 (`Qwen3ForCausalLM`): q/k RMSNorm per head.
    case qwen3
    /// Phi-3 (`Phi3ForCausalLM`): fused `qkv_proj` and `gate_up_proj`.
    case phi3
    /// Gemma 2 (`Gemma2ForCausalLM`): scaled embeddings, soft-capping, sandwich norms, alternating local attention.
    case gemma2

    /// transformers' class name for the architecture.
    public var className: String {
      switch self {
      case .llama: "LlamaForCausalLM"
      case .mistral: "MistralForCausalLM"
      case .qwen2: "Qwen2ForCausalLM"
      case .qwen3: "Qwen3ForCausalLM"
      case .phi3: "Phi3ForCausalLM"
      case .gemma2: "Gemma2ForCausalLM"
      }
    }
  }

  /// The attention span of a layer (transformers' `layer_types`).
  public enum LayerAttention: String, Sendable, Equatable {
    /// Every earlier position.
    case full = "full_attention"
    /// The last `sliding_window` positions (the query's own included).
    case sliding = "sliding_attention"
  }

  /// The MLP activation (`hidden_act` / `hidden_activation`).
  public enum Activation: String, Sendable, Equatable, CaseIterable {
    /// `x · sigmoid(x)`.
    case silu
    /// The tanh approximation of GELU (`gelu_pytorch_tanh`, also `gelu_new`).
    case geluTanh = "gelu_pytorch_tanh"
    /// Exact GELU with erf.
    case gelu
  }

  /// The decoder family.
  public var architecture: Architecture
  /// `vocab_size`.
  public var vocabularySize: Int
  /// `hidden_size`.
  public var hiddenSize: Int
  /// `intermediate_size`.
  public var intermediateSize: Int
  /// `num_hidden_layers`.
  public var layerCount: Int
  /// `num_attention_heads`.
  public var attentionHeads: Int
  /// `num_key_value_heads` (= attention heads without GQA).
  public var keyValueHeads: Int
  /// `head_dim` (`hidden_size / num_attention_heads` when absent).
  public var headDimension: Int
  /// `rms_norm_eps`.
  public var rmsNormEpsilon: Double
  /// Rotary embedding settings.
  public var rope: RopeConfiguration
  /// `max_position_embeddings`: the longest sequence the runtime accepts.
  public var maxPositionEmbeddings: Int
  /// Whether q/k/v (and for Llama o) projections carry biases (`attention_bias`; always for Qwen2's q/k/v).
  public var attentionBias: Bool
  /// Whether the MLP projections carry biases (`mlp_bias`).
  public var mlpBias: Bool
  /// `tie_word_embeddings`: the output projection is the embedding matrix.
  public var tieWordEmbeddings: Bool
  /// `eos_token_id`, as a list (an integer in the file becomes one element).
  public var eosTokenIDs: [Int]
  /// `bos_token_id`.
  public var bosTokenID: Int?
  /// `pad_token_id`.
  public var padTokenID: Int?
  /// `sliding_window` where layers use it.
  public var slidingWindow: Int?
  /// Each layer's attention span.
  public var layerTypes: [LayerAttention]
  /// The MLP activation.
  public var activation: Activation
  /// Gemma 2's `attn_logit_softcapping`.
  public var attentionLogitSoftcap: Double?
  /// Gemma 2's `final_logit_softcapping`.
  public var finalLogitSoftcap: Double?
  /// Gemma 2's `query_pre_attn_scalar`: scores are scaled by its inverse square root instead of `head_dim`'s.
  public var queryPreAttentionScalar: Double?
  /// The stored dtype named by `torch_dtype` / `dtype`, if any.
  public var dtypeName: String?

  /// The attention score multiplier: `query_pre_attn_scalar^-0.5` for Gemma 2, else `head_dim^-0.5`.
  public var attentionScale: Double {
    if let queryPreAttentionScalar { return 1 / queryPreAttentionScalar.squareRoot() }
    return 1 / Double(headDimension).squareRoot()
  }

  /// Whether the embedding output is multiplied by `sqrt(hidden_size)` (Gemma).
  public var scalesEmbeddings: Bool { architecture == .gemma2 }

  /// Whether RMSNorm multiplies by `1 + weight` (Gemma) instead of `weight`.
  public var normAddsOne: Bool { architecture == .gemma2 }

  /// The number of rotated dimensions of each head (`head_dim × partial_rotary_factor`, even).
  public var rotaryDimension: Int { Int(Double(headDimension) * rope.partialRotaryFactor) }
}
