import Foundation

/// Rotary position embedding in transformers' rotate-half form, `x' = x·cos + rotate_half(x)·sin`, on
/// `[tokens, heads, headDim]` buffers, with its backward pass. Only the first ``rotaryDim`` features of each
/// head rotate (`partial_rotary_factor`); the rest pass through unchanged, as transformers' `q_pass`.
public struct RotaryEmbeddingOp: Sendable {
  /// `cos` per position and rotated dimension `[positions, rotaryDim]`.
  public var cos: [Float]
  /// `sin` per position and rotated dimension `[positions, rotaryDim]`.
  public var sin: [Float]
  /// The head dimension.
  public var headDim: Int
  /// The rotated features per head (even, at most ``headDim``).
  public var rotaryDim: Int

  /// Creates the op from tables (as the runtime's rope computes them, scaling included).
  ///
  /// - Parameters:
  ///   - cos: `[positions, rotaryDim]`.
  ///   - sin: `[positions, rotaryDim]`.
  ///   - headDim: The head dimension.
  ///   - rotaryDim: The rotated features per head (even; `headDim` when `nil`).
  /// - Throws: `QLoRAError` when the tables disagree or the rotary dimension is odd or larger than the head.
  public init(cos: [Float], sin: [Float], headDim: Int, rotaryDim: Int? = nil) throws(QLoRAError) {
    let rotaryDim = rotaryDim ?? headDim
    guard rotaryDim > 0, rotaryDim % 2 == 0, rotaryDim <= headDim else {
      throw .invalidSetting(name: "rotary dimension", reason: "\(rotaryDim) is not even or exceeds head_dim \(headDim)")
    }
    try sin.require(cos.count, "RoPE sin table")
    guard cos.count % rotaryDim == 0 else {
      throw .shapeMismatch(context: "RoPE cos table", expected: rotaryDim, found: cos.count)
    }
    self.cos = cos
    self.sin = sin
    self.headDim = headDim
    self.rotaryDim = rotaryDim
  }

  /// Default (unscaled) tables for positions `0..<positions`: `inv_freq_i = θ^(−2i/d)`, angles in float32,
  /// `cat(freqs, freqs)` as transformers.
  ///
  /// - Parameters:
  ///   - positions: The number of positions.
  ///   - headDim: The head dimension.
  ///   - theta: `rope_theta`.
  /// - Throws: `QLoRAError` when `headDim` is odd.
  public init(positions: Int, headDim: Int, theta: Double) throws(QLoRAError) {
    var inverse = [Float]()
    for i in stride(from: 0, to: headDim, by: 2) {
      inverse.append(Float(1.0 / Foundation.pow(theta, Double(i) / Double(headDim))))
    }
    try self.init(positions: positions, headDim: headDim, inverseFrequencies: inverse)
  }

  /// Tables from inverse frequencies (any scaling already applied): `rotaryDim / 2` of them, so a partial
  /// rotary embedding passes fewer than `headDim / 2`.
  ///
  /// - Parameters:
  ///   - positions: The number of positions.
  ///   - headDim: The head dimension.
  ///   - inverseFrequencies: `inv_freq`, one per rotated pair (at most `headDim / 2`).
  ///   - attentionScaling: The factor transformers multiplies cos and sin by (1 for default rope).
  /// - Throws: `QLoRAError` on inconsistent sizes.
  public init(positions: Int, headDim: Int, inverseFrequencies: [Float], attentionScaling: Float = 1) throws(QLoRAError) {
    let half = inverseFrequencies.count
    let rotaryDim = 2 * half
    guard half > 0, rotaryDim <= headDim else {
      throw .shapeMismatch(context: "RoPE inverse frequencies", expected: headDim / 2, found: half)
    }
    var cosTable = [Float](repeating: 0, count: positions * rotaryDim)
    var sinTable = cosTable
    for p in 0..<positions {
      for i in 0..<half {
        let angle = Float(p) * inverseFrequencies[i]
        let c = Foundation.cos(angle) * attentionScaling
        let s = Foundation.sin(angle) * attentionScaling
        cosTable[p * rotaryDim + i] = c
        cosTable[p * rotaryDim + i + half] = c
        sinTable[p * rotaryDim + i] = s
        sinTable[p * rotaryDim + i + half] = s
      }
    }
    try self.init(cos: cosTable, sin: sinTable, headDim: headDim, rotaryDim: rotaryDim)
  }

  /// The number of positions the tables cover.
  public var positions: Int { cos.count / rotaryDim }

  /// Rotates `x` `[tokens, heads, headDim]`, token `t` at position `firstPosition + t`.
  ///
  /// - Parameters:
  ///   - x: The queries or keys.
  ///   - heads: Heads per token.
  ///   - firstPosition: The position of the first token.
  /// - Returns: The rotated buffer.
  /// - Throws: `QLoRAError` when the positions exceed the tables.
  public func forward(_ x: [Float], heads: Int, firstPosition: Int = 0) throws(QLoRAError) -> [Float] {
    try apply(x, heads: heads, firstPosition: firstPosition, sinSign: 1)
  }

  /// The input gradient: the same rotation with `sin → −sin` (the rotation is orthogonal).
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dx'` `[tokens, heads, headDim]`.
  ///   - heads: Heads per token.
  ///   - firstPosition: The position of the first token.
  /// - Returns: `dL/dx`.
  /// - Throws: `QLoRAError` when the positions exceed the tables.
  public func backward(_ outputGradient: [Float], heads: Int, firstPosition: Int = 0) throws(QLoRAError) -> [Float] {
    try apply(outputGradient, heads: heads, firstPosition: firstPosition, sinSign: -1)
  }

  private func apply(_ x: [Float], heads: Int, firstPosition: Int, sinSign: Float) throws(QLoRAError) -> [Float] {
    let rowSize = heads * headDim
    guard rowSize > 0, x.count % rowSize == 0 else {
      throw .shapeMismatch(context: "RoPE input", expected: rowSize, found: x.count)
    }
    let tokens = x.count / rowSize
    guard firstPosition >= 0, firstPosition + tokens <= positions else {
      throw .invalidSetting(
        name: "sequence length", reason: "positions up to \(firstPosition + tokens) exceed the \(positions) RoPE positions")
    }
    let half = rotaryDim / 2
    var out = x  // features past rotaryDim pass through (their gradient too)
    for t in 0..<tokens {
      let table = (firstPosition + t) * rotaryDim
      for h in 0..<heads {
        let base = t * rowSize + h * headDim
        for i in 0..<rotaryDim {
          // rotate_half([x1; x2]) = [−x2; x1]; sin[i] = sin[i ± half] (cat(freqs, freqs)).
          let rotated = i < half ? -x[base + i + half] : x[base + i - half]
          out[base + i] = x[base + i] * cos[table + i] + sinSign * rotated * sin[table + i]
        }
      }
    }
    return out
  }
}
