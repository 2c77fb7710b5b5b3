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

  /// Computes `outputGradient · weight` with quantized weights `[N, K]`: the input gradient of
  /// ``linear(_:weight:bias:)`` (`dX = dY · W`, bitsandbytes' `MatMul4Bit.backward`), for training adapters
  /// over frozen quantized layers. The default (`KernelBackend+InputGradient.swift`) decodes the weight to
  /// float32 and runs the reference loops; the Metal backend runs a fused dequantize + GEMM shader.
  ///
  /// - Parameters:
  ///   - outputGradient: `[..., N]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights with logical shape `[N, K]`.
  /// - Returns: `[..., K]` in the gradient's dtype, accumulated in float32.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Tensor

  /// Encodes float32 values into the buffers of a storage layout, bit-identical to the layout's
  /// reference encoder, or returns `false` when this backend has no faster encoder for that layout (the
  /// caller then runs the reference encoder). Every built-in format quantizes through this one hook, so
  /// `bnb-patch` and the functional API get the backend's encoders for every layout.
  ///
  /// - Parameter request: The layout to encode, the input values and the caller's output buffers.
  /// - Returns: Whether the backend wrote every output buffer of `request`.
  func encode(_ request: EncodingRequest) -> Bool
}

/// One encoding job for ``KernelBackend/encode(_:)``, keyed by storage layout. The outputs are the
/// caller's buffers: a backend writes into them and allocates nothing of its own for the result.
public enum EncodingRequest {
  /// Blockwise 4-bit codebook indices (``StorageLayout/codebook4Bit(packed:state:)``), as
  /// `quantizer.quantizePacked4Bit(values, blocksize:packed:absmax:)` writes them.
  ///
  /// - `values`: the values in row-major order; `blocksize`: one of
  ///   ``BlockwiseCodebookQuantizer/supportedBlocksizes``; `packed`: `(values.count + 1) / 2` bytes;
  ///   `absmax`: one scale per block.
  case codebook4Bit(
    values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    packed: UnsafeMutableRawBufferPointer, absmax: UnsafeMutableBufferPointer<Float>)
  /// Blockwise 8-bit codebook indices (``StorageLayout/codebook8Bit(codes:state:)``), as
  /// `quantizer.quantize(values, blocksize:indices:absmax:)` writes them.
  ///
  /// - `values`: the values in row-major order; `quantizer`: a 256-entry codebook; `blocksize`: any
  ///   positive integer; `codes`: one index per value; `absmax`: one scale per block.
  case codebook8Bit(
    values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    codes: UnsafeMutableBufferPointer<UInt8>, absmax: UnsafeMutableBufferPointer<Float>)
  /// LLM.int8 row-wise codes without outliers (``StorageLayout/int8Rowwise(_:)``, bitsandbytes'
  /// `int8_vectorwise_quant` with threshold 0): `rowScale[r] = max |x[r, :]|`,
  /// `codes = round_half_even(x · fl32(fl32(1 / rowScale[r]) · 127))`, non-finite products give 0.
  case int8Rowwise(
    values: UnsafeBufferPointer<Float>, rows: Int, columns: Int, codes: UnsafeMutableBufferPointer<Int8>,
    rowScale: UnsafeMutableBufferPointer<Float>)
  /// fp8 codes (``StorageLayout/float8(_:)``) of `values · multipliers[group]`, where the groups are
  /// `tileRows × tileColumns` tiles of the `[values.count / columns, columns]` matrix, row-major over the
  /// tile grid (one tile for per-tensor scales, `1 × columns` for per-row scales), rounded to nearest
  /// even. With `clampToFinite` (the scaled modes) products beyond ±maxFinite become ±maxFinite, as
  /// transformers clamps before its cast; without it, torch 2.13's cast applies (E4M3FN saturates to
  /// ±448, E5M2 overflows to ±inf). NaN stays NaN.
  case float8(
    values: UnsafeBufferPointer<Float>, columns: Int, tileRows: Int, tileColumns: Int,
    multipliers: UnsafeBufferPointer<Float>, encoding: Float8Encoding, clampToFinite: Bool,
    codes: UnsafeMutableRawBufferPointer)

  /// The layout kind being encoded (``StorageLayout/kind``'s names).
  public var layoutKind: String {
    switch self {
    case .codebook4Bit: "codebook4bit"
    case .codebook8Bit: "codebook8bit"
    case .int8Rowwise: "int8-rowwise"
    case .float8: "fp8"
    }
  }
}

// MARK: - Default implementations

/// A backend that can say why it is unavailable. A separate protocol rather than a ``KernelBackend``
/// requirement, so that adding it changed no existing conformance.
public protocol BackendAvailabilityReporting {
  /// Why the backend cannot run here (no device, a shader compiler's log, a missing GPU feature), or
  /// `nil` when it can.
  var reasonUnavailable: String? { get }
}

extension KernelBackend {
  /// Why ``isAvailable`` is `false`, printed by the registry's error and `bnb-patch formats`: the
  /// backend's ``BackendAvailabilityReporting/reasonUnavailable`` when it reports one, else `nil`.
  public var unavailableReason: String? { (self as? any BackendAvailabilityReporting)?.reasonUnavailable }

  /// No accelerated encoder: the format's reference encoder runs.
  public func encode(_ request: EncodingRequest) -> Bool { false }

  /// Encodes with a 4-bit codebook through ``encode(_:)``.
  ///
  /// - Returns: Whether the backend wrote `packed` and `absmax`.
  @available(*, deprecated, message: "use encode(.codebook4Bit(values:quantizer:blocksize:packed:absmax:))")
  public func encodeCodebook4Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    packed: UnsafeMutableRawBufferPointer, absmax: UnsafeMutableBufferPointer<Float>
  ) -> Bool {
    encode(.codebook4Bit(values: values, quantizer: quantizer, blocksize: blocksize, packed: packed, absmax: absmax))
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
