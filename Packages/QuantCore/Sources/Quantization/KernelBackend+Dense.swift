// Dense (unquantized) linear layers through a backend: the kept lm_head, embeddings and unquantized
// layers of a model. The requirement is declared in `KernelBackend`; its default runs the reference loops.

extension KernelBackend {
  /// The reference dense linear: widens input and weight to float32 and accumulates in float32 in K order.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Dense weights `[N, K]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func denseLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws(QuantError) -> Tensor {
    let problem = try DenseLinearProblem(input: input, weight: weight, bias: bias)
    let x = try input.floats()
    let w = try weight.floats()
    let b = try bias?.floats()
    var y = [Float](repeating: 0, count: problem.m * problem.n)
    for row in 0..<problem.m {
      for column in 0..<problem.n {
        var sum: Float = 0
        for k in 0..<problem.k { sum += x[row * problem.k + k] * w[column * problem.k + k] }
        y[row * problem.n + column] = sum + (b?[column] ?? 0)
      }
    }
    return try Tensor(converting: y, to: input.dtype, shape: problem.outputShape)
  }
}

/// The dimensions of a dense `linear` call (`y = x · wᵀ + b`), validated once for every backend.
public struct DenseLinearProblem: Sendable, Equatable {
  /// Rows of activations (product of the input's leading dimensions).
  public var m: Int
  /// Output features (rows of the weight).
  public var n: Int
  /// Input features (columns of the weight).
  public var k: Int
  /// The output shape: the input's leading dimensions, then `n`.
  public var outputShape: [Int]

  /// Validates shapes and dtypes of a dense `linear` call.
  ///
  /// - Parameters:
  ///   - input: `[..., K]` activations in float32, float16 or bfloat16.
  ///   - weight: `[N, K]` weights in float32, float16 or bfloat16.
  ///   - bias: Optional `[N]`.
  /// - Throws: `QuantError` describing the mismatch.
  public init(input: Tensor, weight: Tensor, bias: Tensor?) throws(QuantError) {
    let floats: [DType] = [.float32, .float16, .bfloat16]
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "dense linear needs a 2-D weight [out_features, in_features]")
    }
    guard floats.contains(weight.dtype) else {
      throw .unsupportedDType(weight.dtype, operation: "dense linear weights", supported: floats)
    }
    guard floats.contains(input.dtype) else {
      throw .unsupportedDType(input.dtype, operation: "dense linear activations", supported: floats)
    }
    guard let k = input.shape.last, k == weight.shape[1] else {
      throw .shapeMismatch(context: "dense linear input features", expected: [weight.shape[1]], found: input.shape)
    }
    if let bias, bias.shape != [weight.shape[0]] {
      throw .shapeMismatch(context: "dense linear bias", expected: [weight.shape[0]], found: bias.shape)
    }
    self.k = k
    self.n = weight.shape[0]
    self.m = input.shape.dropLast().reduce(1, *)
    self.outputShape = Array(input.shape.dropLast()) + [weight.shape[0]]
  }
}
