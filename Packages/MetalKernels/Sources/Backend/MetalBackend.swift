public import QuantCore

/// The `metal` backend: fused dequantize + GEMV/GEMM shaders on Apple GPUs.
///
/// The shaders ship as source (the `Shaders` resource) and are compiled on first use with
/// `makeLibrary(source:)`; pipelines are cached per kernel. On platforms without Metal the backend
/// exists with the same API and ``isAvailable`` is `false`; its compute calls throw.
///
/// - Decode (M ≤ 8 activation rows): GEMV kernels read every weight byte once (Docs/metal.md).
/// - Prefill (M > 8): tiled GEMM with `simdgroup_matrix` and float32 accumulation.
/// - Activations and outputs are float32, float16 or bfloat16 natively (no cast through half).
///
/// Custom layouts run through the reference decode (they have no shader).
public struct MetalBackend: KernelBackend {
  /// Creates the backend. Nothing touches the GPU until the first call.
  public init() {}

  /// `"metal"`.
  public var name: String { "metal" }

  /// Whether a Metal device exists (always `false` off Apple platforms).
  public var isAvailable: Bool { MetalExecution.isAvailable }

  /// Whether `layout` has shaders: every built-in layout does; custom layouts do not.
  ///
  /// - Parameter layout: A storage layout.
  /// - Returns: `true` for the 4-bit and 8-bit codebook, int8 row-wise and fp8 layouts.
  public func accelerates(_ layout: StorageLayout) -> Bool { KernelLayoutFamily(layout) != nil }

  /// Decodes a quantized tensor on the GPU (one rounding from float32, like the reference).
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - dtype: `float32`, `float16` or `bfloat16`.
  /// - Returns: The decoded tensor with the logical shape.
  /// - Throws: `QuantError.unsupportedOperation` where Metal is unavailable; other `QuantError`s for
  ///   inconsistent data or an unsupported dtype.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    guard accelerates(tensor.layout) else { return try ReferenceBackend().dequantize(tensor, to: dtype) }
    let weights = try PreparedWeights(tensor)
    let dispatch = try KernelDispatchPlan.dequantize(weights, to: dtype)
    return try MetalExecution.run(
      dispatch, weights: weights, input: nil, bias: nil, outputDType: dtype, outputShape: tensor.shape)
  }

  /// Computes `input · weightᵀ + bias` on the GPU, accumulating in float32.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`.
  ///   - bias: Optional `[N]`, any float dtype (converted to float32).
  /// - Returns: `[..., N]` in the input's dtype.
  /// - Throws: `QuantError.unsupportedOperation` where Metal is unavailable; shape and dtype errors.
  public func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    guard accelerates(weight.layout) else { return try ReferenceBackend().linear(input, weight: weight, bias: bias) }
    let problem = try LinearProblem(input: input, weight: weight, bias: bias)
    let weights = try PreparedWeights(weight)
    let dispatch = try KernelDispatchPlan.linear(
      weights, tokens: problem.m, activation: input.dtype, hasBias: bias != nil)
    return try MetalExecution.run(
      dispatch, weights: weights, input: input, bias: try bias?.floats(), outputDType: input.dtype,
      outputShape: problem.outputShape)
  }
}
