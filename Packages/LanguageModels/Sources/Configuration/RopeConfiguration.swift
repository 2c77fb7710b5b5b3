/// Rotary position embedding settings, read from `rope_parameters` (the key transformers 5 writes) or
/// `rope_scaling` (the key of most Hub configs), with `rope_theta` and `partial_rotary_factor` from the
/// top level when the block does not carry them.
public struct RopeConfiguration: Sendable, Equatable {
  /// How the inverse frequencies are derived (transformers' `rope_type`).
  public enum Kind: String, Sendable, CaseIterable {
    /// `1 / θ^(2i/d)`.
    case `default`
    /// Frequencies divided by `factor`.
    case linear
    /// NTK-aware: the base grows with the sequence beyond `max_position_embeddings`.
    case dynamic
    /// YaRN: interpolation ramp between `beta_fast` and `beta_slow`, scaled cos/sin.
    case yarn
    /// Llama 3.1's piecewise low/high-frequency scaling.
    case llama3
    /// Phi-3's LongRoPE: per-frequency `short_factor`/`long_factor`, scaled cos/sin.
    case longrope
  }

  /// The frequency rule.
  public var kind: Kind
  /// The base wavelength `θ` (`rope_theta`).
  public var theta: Double
  /// The fraction of `head_dim` that is rotated (`partial_rotary_factor`, 1 by default).
  public var partialRotaryFactor: Double = 1
  /// `factor` (linear, dynamic, yarn, llama3, longrope).
  public var factor: Double?
  /// `original_max_position_embeddings` (llama3, yarn, longrope): the pretraining context.
  public var originalMaxPositionEmbeddings: Int?
  /// `low_freq_factor` (llama3).
  public var lowFrequencyFactor: Double?
  /// `high_freq_factor` (llama3).
  public var highFrequencyFactor: Double?
  /// `attention_factor` (yarn, longrope): the cos/sin multiplier when given explicitly.
  public var attentionFactor: Double?
  /// `beta_fast` (yarn, 32 by default).
  public var betaFast: Double?
  /// `beta_slow` (yarn, 1 by default).
  public var betaSlow: Double?
  /// `mscale` (yarn).
  public var mscale: Double?
  /// `mscale_all_dim` (yarn).
  public var mscaleAllDim: Double?
  /// `truncate` (yarn, true by default).
  public var truncate: Bool = true
  /// `short_factor` (longrope): one factor per rotated frequency.
  public var shortFactor: [Double]?
  /// `long_factor` (longrope): used once a sequence passes `original_max_position_embeddings`.
  public var longFactor: [Double]?

  /// Plain RoPE with base `theta`.
  ///
  /// - Parameter theta: `rope_theta`.
  public init(theta: Double) {
    self.kind = .default
    self.theta = theta
  }
}
