/// A compute backend: dequantization and fused dequantize + matmul for storage layouts.
///
/// Backends register in a ``QuantRegistry`` by name (`cpu`, `metal`, `reference`). They implement
/// kernels per ``StorageLayout``; a layout a backend does not accelerate falls back to decoding rows
/// and multiplying.
public protocol KernelBackend: Sendable {
  /// The registry name (`"cpu"`).
  var name: String { get }
  /// Whether the backend can run on this machine (Metal is unavailable on Linux).
  var isAvailable: Bool { get }
  /// Whether `layout` has a dedicated kernel here (anything else still runs, more slowly).
  ///
  /// - Parameter layout: A storage layout.
  func accelerates(_ layout: StorageLayout) -> Bool

  /// Decodes a quantized tensor to `dtype` (one rounding from float32).
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - dtype: `float32`, `float16` or `bfloat16`.
  /// - Returns: The decoded tensor with the logical shape.
  /// - Throws: `QuantError` on inconsistent data or an unsupported dtype.
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor

  /// Computes `input · weightᵀ + bias` with quantized weights `[N, K]`, as `torch.nn.functional.linear`.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights with logical shape `[N, K]`.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype, accumulated in float32.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor

  /// Computes `input · weightᵀ + bias` with dense weights `[N, K]` (kept layers: lm_head, embeddings).
  /// The default (`KernelBackend+Dense.swift`) runs the reference loops.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Dense weights `[N, K]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype, accumulated in float32.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  func denseLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws(QuantError) -> Tensor

  /// Encodes float32 values with a 4-bit codebook quantizer, bit-identical to
  /// `quantizer.quantizePacked4Bit(values, blocksize:packed:absmax:)`, or returns `false` when this
  /// backend has no faster encoder (the caller then runs the reference encoder).
  ///
  /// - Parameters:
  ///   - values: The values to encode.
  ///   - quantizer: The codebook, thresholds and tie rules.
  ///   - blocksize: Elements per block.
  ///   - packed: Room for `(values.count + 1) / 2` bytes.
  ///   - absmax: Room for one scale per block.
  /// - Returns: Whether the backend wrote `packed` and `absmax`.
  func encodeCodebook4Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    packed: UnsafeMutableRawBufferPointer, absmax: UnsafeMutableBufferPointer<Float>
  ) -> Bool
}

// MARK: - Default implementations

extension KernelBackend {
  /// No accelerated encoder: the format's reference encoder runs.
  public func encodeCodebook4Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    packed: UnsafeMutableRawBufferPointer, absmax: UnsafeMutableBufferPointer<Float>
  ) -> Bool {
    false
  }
}

/// The backend of obviously correct loops: decode to float32, multiply in float32, round once.
///
/// It is the oracle for every other backend's tests and the fallback where nothing faster exists.
public struct ReferenceBackend: KernelBackend {
  /// Creates the reference backend.
  public init() {}

  /// `"reference"`.
  public var name: String { "reference" }
  /// Always available.
  public var isAvailable: Bool { true }
  /// Accelerates nothing: everything runs through the reference loops.
  public func accelerates(_ layout: StorageLayout) -> Bool { false }

  /// Decodes through the layout's reference path.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try Tensor(converting: tensor.layout.dequantizedFloats(), to: dtype, shape: tensor.shape)
  }

  /// Decodes the weight to float32, then a plain triple loop with float32 accumulation in K order.
  public func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    let problem = try LinearProblem(input: input, weight: weight, bias: bias)
    let w = try weight.layout.dequantizedFloats()
    let x = try input.floats()
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

/// The dimensions of a `linear` call, validated once for every backend.
public struct LinearProblem: Sendable, Equatable {
  /// Rows of activations (product of the input's leading dimensions).
  public var m: Int
  /// Output features (rows of the weight).
  public var n: Int
  /// Input features (columns of the weight).
  public var k: Int
  /// The output shape: the input's leading dimensions, then `n`.
  public var outputShape: [Int]

  /// Validates shapes and dtypes of a `linear` call.
  ///
  /// - Parameters:
  ///   - input: `[..., K]` activations.
  ///   - weight: `[N, K]` quantized weights.
  ///   - bias: Optional `[N]`.
  /// - Throws: `QuantError` describing the mismatch.
  public init(input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "linear needs a 2-D weight [out_features, in_features]")
    }
    guard [.float32, .float16, .bfloat16].contains(input.dtype) else {
      throw .unsupportedDType(input.dtype, operation: "linear activations", supported: [.float32, .float16, .bfloat16])
    }
    guard let k = input.shape.last, k == weight.shape[1] else {
      throw .shapeMismatch(context: "linear input features", expected: [weight.shape[1]], found: input.shape)
    }
    if let bias, bias.shape != [weight.shape[0]] {
      throw .shapeMismatch(context: "linear bias", expected: [weight.shape[0]], found: bias.shape)
    }
    self.k = k
    self.n = weight.shape[0]
    self.m = input.shape.dropLast().reduce(1, *)
    self.outputShape = Array(input.shape.dropLast()) + [weight.shape[0]]
  }
}
