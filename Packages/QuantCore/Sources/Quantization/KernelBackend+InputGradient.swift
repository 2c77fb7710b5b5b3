// The input gradient of a quantized linear layer (`dX = dY · W`) through a backend. The requirement is
// declared in `KernelBackend`; its default decodes the weight and runs the reference loops.

extension KernelBackend {
  /// The reference input gradient: decodes `weight` to float32 once, then accumulates `dY[m, :] · W[:, k]`
  /// in float32 in N order and rounds once to the gradient's dtype.
  ///
  /// - Parameters:
  ///   - outputGradient: `[..., N]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`.
  /// - Returns: `[..., K]` in the gradient's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Tensor {
    let problem = try InputGradientProblem(outputGradient: outputGradient, weight: weight)
    let w = try weight.layout.dequantizedFloats()
    let dy = try outputGradient.floats()
    var dx = [Float](repeating: 0, count: problem.m * problem.k)
    for row in 0..<problem.m {
      for n in 0..<problem.n {
        let g = dy[row * problem.n + n]
        for column in 0..<problem.k { dx[row * problem.k + column] += g * w[n * problem.k + column] }
      }
    }
    return try Tensor(converting: dx, to: outputGradient.dtype, shape: problem.outputShape)
  }
}

/// The dimensions of an input-gradient call (`dX = dY · W` for `W` `[N, K]`), validated once for every
/// backend.
public struct InputGradientProblem: Sendable, Equatable {
  /// Rows of the gradient (product of its leading dimensions).
  public var m: Int
  /// Output features of the layer (rows of the weight; the shared dimension here).
  public var n: Int
  /// Input features of the layer (columns of the weight; the result's last dimension).
  public var k: Int
  /// The result's shape: the gradient's leading dimensions, then `k`.
  public var outputShape: [Int]

  /// Validates shapes and dtypes of an input-gradient call.
  ///
  /// - Parameters:
  ///   - outputGradient: `[..., N]` in float32, float16 or bfloat16.
  ///   - weight: `[N, K]` quantized weights.
  /// - Throws: `QuantError` describing the mismatch.
  public init(outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) {
    let floats: [DType] = [.float32, .float16, .bfloat16]
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "an input gradient needs a 2-D weight [out_features, in_features]")
    }
    guard floats.contains(outputGradient.dtype) else {
      throw .unsupportedDType(outputGradient.dtype, operation: "input-gradient operands", supported: floats)
    }
    guard let n = outputGradient.shape.last, n == weight.shape[0] else {
      throw .shapeMismatch(context: "output gradient features", expected: [weight.shape[0]], found: outputGradient.shape)
    }
    self.n = n
    self.k = weight.shape[1]
    self.m = outputGradient.shape.dropLast().reduce(1, *)
    self.outputShape = Array(outputGradient.shape.dropLast()) + [weight.shape[1]]
  }
}
