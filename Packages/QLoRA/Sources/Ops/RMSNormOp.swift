/// RMSNorm as transformers' `LlamaRMSNorm` in float32, `y = w ⊙ x · rsqrt(mean(x²) + eps)`, with its
/// backward pass.
public struct RMSNormOp: Sendable {
  /// The per-feature weight `[features]`.
  public var weight: [Float]
  /// The epsilon added to the mean square.
  public var epsilon: Float

  /// Creates the op.
  ///
  /// - Parameters:
  ///   - weight: `[features]`.
  ///   - epsilon: `rms_norm_eps`.
  public init(weight: [Float], epsilon: Float) {
    self.weight = weight
    self.epsilon = epsilon
  }

  /// The number of features per row.
  public var features: Int { weight.count }

  /// Normalizes each row of `x` `[rows, features]`.
  ///
  /// - Parameters:
  ///   - x: The input rows.
  ///   - threads: Rows are split over this many threads (the result does not depend on it).
  /// - Returns: The output and the per-row `rsqrt(mean(x²) + eps)` the backward pass needs.
  /// - Throws: `QLoRAError.shapeMismatch` when `x` is not a whole number of rows.
  public func forward(_ x: [Float], threads: Int = 1) throws(QLoRAError) -> (output: [Float], inverseRMS: [Float]) {
    let d = features
    guard d > 0, x.count % d == 0 else { throw .shapeMismatch(context: "RMSNorm input", expected: d, found: x.count) }
    let rows = x.count / d
    var output = [Float](repeating: 0, count: x.count)
    var inverse = [Float](repeating: 0, count: rows)
    output.withUnsafeMutableBufferPointer { output in
      inverse.withUnsafeMutableBufferPointer { inverse in
        ParallelRanges.run(count: rows, threads: threads, minimum: 16) { range in
          for r in range {
            var sum: Float = 0
            for c in 0..<d { sum += x[r * d + c] * x[r * d + c] }
            let n = 1 / (sum / Float(d) + epsilon).squareRoot()
            inverse[r] = n
            for c in 0..<d { output[r * d + c] = weight[c] * (x[r * d + c] * n) }
          }
        }
      }
    }
    return (output, inverse)
  }

  /// The input gradient: `dx = n·g⊙w − x·n³·mean(g⊙w⊙x)` per row.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dy` `[rows, features]`.
  ///   - x: The forward input.
  ///   - inverseRMS: The forward pass's per-row `n`.
  ///   - threads: Rows are split over this many threads (the result does not depend on it).
  /// - Returns: `dL/dx`.
  /// - Throws: `QLoRAError.shapeMismatch` on inconsistent sizes.
  public func backward(
    _ outputGradient: [Float], x: [Float], inverseRMS: [Float], threads: Int = 1
  ) throws(QLoRAError) -> [Float] {
    let d = features
    try outputGradient.require(x.count, "RMSNorm output gradient")
    try inverseRMS.require(x.count / max(d, 1), "RMSNorm inverse RMS")
    var dx = [Float](repeating: 0, count: x.count)
    dx.withUnsafeMutableBufferPointer { dx in
      ParallelRanges.run(count: inverseRMS.count, threads: threads, minimum: 16) { range in
        for r in range {
          let n = inverseRMS[r]
          var dot: Float = 0
          for c in 0..<d { dot += outputGradient[r * d + c] * weight[c] * x[r * d + c] }
          let correction = n * n * n * dot / Float(d)
          for c in 0..<d {
            dx[r * d + c] = n * outputGradient[r * d + c] * weight[c] - x[r * d + c] * correction
          }
        }
      }
    }
    return dx
  }
}
