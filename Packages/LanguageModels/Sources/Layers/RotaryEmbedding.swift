import Foundation

/// RoPE as transformers applies it: float32 inverse frequencies from the configured rule
/// (`modeling_rope_utils`), `cos`/`sin` of `inv_freq · position` duplicated over both halves and scaled
/// by the rule's attention factor, and the rotate-half layout on the first `rotaryDimension` features.
package struct RotaryEmbedding: Sendable {
  /// The rotated features per head (even).
  package let rotaryDimension: Int
  /// Inverse frequencies for sequences within the pretraining context (for LongRoPE: `short_factor`).
  package let inverseFrequencies: [Float]
  /// LongRoPE's frequencies once a call reaches past `original_max_position_embeddings`.
  package let longInverseFrequencies: [Float]?
  /// The position after which ``longInverseFrequencies`` apply.
  package let longThreshold: Int
  /// The cos/sin multiplier (yarn, longrope; 1 otherwise).
  package let attentionScaling: Float

  package init(configuration: ModelConfiguration) throws(LanguageModelError) {
    let rope = configuration.rope
    let dim = configuration.rotaryDimension
    guard dim >= 2, dim % 2 == 0 else {
      throw .invalidConfiguration(
        file: "config.json", key: "partial_rotary_factor",
        reason: "rotary dimension \(dim) (head_dim × partial_rotary_factor) must be even and positive")
    }
    rotaryDimension = dim
    let half = dim / 2
    let base = Float(rope.theta)
    // `arange(0, dim, 2).float() / dim`, then `base ** exponent` in float32.
    let powers = (0..<half).map { pow(base, Float(2 * $0) / Float(dim)) }
    let plain = powers.map { 1 / $0 }
    var long: [Float]? = nil
    var threshold = Int.max
    var scaling: Float = 1
    var frequencies = plain
    switch rope.kind {
    case .default: break
    case .linear:
      frequencies = plain.map { $0 / Float(rope.factor ?? 1) }
    case .dynamic:
      // At or below max_position_embeddings (the runtime's limit) the base is unchanged.
      frequencies = plain
    case .llama3:
      frequencies = Self.llama3(plain, rope: rope)
    case .yarn:
      (frequencies, scaling) = Self.yarn(powers, rope: rope, dim: dim, maxPositions: configuration.maxPositionEmbeddings)
    case .longrope:
      let original = rope.originalMaxPositionEmbeddings ?? configuration.maxPositionEmbeddings
      let factor = rope.factor ?? Double(configuration.maxPositionEmbeddings) / Double(original)
      if let given = rope.attentionFactor {
        scaling = Float(given)
      } else {
        scaling = factor <= 1 ? 1 : Float((1 + log(factor) / log(Double(original))).squareRoot())
      }
      let short = rope.shortFactor ?? []
      let longFactors = rope.longFactor ?? []
      guard short.count == half, longFactors.count == half else {
        throw .invalidConfiguration(
          file: "config.json", key: "rope_scaling.short_factor",
          reason:
            "short_factor and long_factor need \(half) entries (rotary dimension / 2), found \(short.count) and \(longFactors.count)"
        )
      }
      frequencies = (0..<half).map { 1 / (Float(short[$0]) * powers[$0]) }
      long = (0..<half).map { 1 / (Float(longFactors[$0]) * powers[$0]) }
      threshold = original
    }
    inverseFrequencies = frequencies
    longInverseFrequencies = long
    longThreshold = threshold
    attentionScaling = scaling
  }

  private static func llama3(_ inverse: [Float], rope: RopeConfiguration) -> [Float] {
    let factor = Float(rope.factor ?? 1)
    let low = Float(rope.lowFrequencyFactor ?? 1)
    let high = Float(rope.highFrequencyFactor ?? 4)
    let old = Float(rope.originalMaxPositionEmbeddings ?? 8192)
    let lowWavelength = old / low
    let highWavelength = old / high
    let twoPi = Float(2 * Double.pi)
    return inverse.map { frequency in
      let wavelength = twoPi / frequency
      let llama = wavelength > lowWavelength ? frequency / factor : frequency
      let smooth = (old / wavelength - low) / (high - low)
      let smoothed = (1 - smooth) * llama / factor + smooth * llama
      let medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
      return medium ? smoothed : llama
    }
  }

  private static func yarn(
    _ powers: [Float], rope: RopeConfiguration, dim: Int, maxPositions: Int
  ) -> ([Float], Float) {
    let original = Double(rope.originalMaxPositionEmbeddings ?? maxPositions)
    let factor = rope.factor ?? Double(maxPositions) / original
    func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }
    var attention = rope.attentionFactor
    if attention == nil {
      if let m = rope.mscale, let all = rope.mscaleAllDim, m != 0, all != 0 {
        attention = mscale(factor, m) / mscale(factor, all)
      } else {
        attention = mscale(factor)
      }
    }
    let betaFast = rope.betaFast.flatMap { $0 == 0 ? nil : $0 } ?? 32
    let betaSlow = rope.betaSlow.flatMap { $0 == 0 ? nil : $0 } ?? 1
    func correctionDim(_ rotations: Double) -> Double {
      Double(dim) * log(original / (rotations * 2 * Double.pi)) / (2 * log(rope.theta))
    }
    var low = correctionDim(betaFast)
    var high = correctionDim(betaSlow)
    if rope.truncate {
      low = low.rounded(.down)
      high = high.rounded(.up)
    }
    low = max(low, 0)
    high = min(high, Double(dim - 1))
    if low == high { high += 0.001 }
    let fLow = Float(low)
    let span = Float(high - low)
    let factorF = Float(factor)
    let frequencies = powers.enumerated().map { index, power -> Float in
      let ramp = min(max((Float(index) - fLow) / span, 0), 1)
      let extrapolation = 1 - ramp
      let interpolated = 1 / (factorF * power)
      let extrapolated = 1 / power
      return interpolated * (1 - extrapolation) + extrapolated * extrapolation
    }
    return (frequencies, Float(attention ?? 1))
  }

  /// The inverse frequencies a forward call whose last position is `lastPosition` uses (LongRoPE
  /// switches to the long factors when `lastPosition + 1` passes the pretraining context, as
  /// transformers decides per call).
  package func frequencies(lastPosition: Int) -> [Float] {
    if let longInverseFrequencies, lastPosition + 1 > longThreshold { return longInverseFrequencies }
    return inverseFrequencies
  }

  /// Fills `cos` and `sin` (`[positions, rotaryDimension / 2]`; both halves are equal) for the positions
  /// `start..<start + count` of a call whose last position is `lastPosition`.
  package func tables(
    start: Int, count: Int, lastPosition: Int, cos cosTable: UnsafeMutableBufferPointer<Float>,
    sin sinTable: UnsafeMutableBufferPointer<Float>
  ) {
    let inverse = frequencies(lastPosition: lastPosition)
    let half = rotaryDimension / 2
    for row in 0..<count {
      let position = Float(start + row)
      for i in 0..<half {
        let angle = inverse[i] * position
        cosTable[row * half + i] = cos(angle) * attentionScaling
        sinTable[row * half + i] = sin(angle) * attentionScaling
      }
    }
  }

  /// Rotates the first ``rotaryDimension`` features of each head in place:
  /// `x · cos + rotate_half(x) · sin`.
  ///
  /// - Parameters:
  ///   - values: `[rows, heads, headDimension]`.
  ///   - rows: Positions.
  ///   - heads: Heads per row.
  ///   - headDimension: Features per head.
  ///   - cos: From ``tables(start:count:cos:sin:)``.
  ///   - sin: From ``tables(start:count:cos:sin:)``.
  package func apply(
    _ values: UnsafeMutableBufferPointer<Float>, rows: Int, heads: Int, headDimension: Int,
    cos: UnsafeBufferPointer<Float>, sin: UnsafeBufferPointer<Float>
  ) {
    let half = rotaryDimension / 2
    for row in 0..<rows {
      for head in 0..<heads {
        let base = (row * heads + head) * headDimension
        for i in 0..<half {
          let c = cos[row * half + i]
          let s = sin[row * half + i]
          let first = values[base + i]
          let second = values[base + half + i]
          values[base + i] = first * c + (-second) * s
          values[base + half + i] = second * c + first * s
        }
      }
    }
  }
}
