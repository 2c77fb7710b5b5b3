public import QuantCore

/// The `metal` backend: fused dequantize + GEMV/GEMM shaders on Apple GPUs.
///
/// The shaders ship as source (the `Shaders` resource) and are compiled once per process on first use
/// with `makeLibrary(source:)`; pipelines are cached per kernel, and each quantized tensor's buffers
/// are prepared once and reused (keyed by storage identity). On platforms without Metal, on GPUs
/// other than Apple family 7+, or when the shaders do not compile, ``isAvailable`` is `false` and
/// ``unavailableReason`` says why.
///
/// - Decode (M ≤ 8 activation rows): GEMV kernels read every weight byte once (Docs/metal.md).
/// - Prefill (M > 8): tiled GEMM with `simdgroup_matrix` and float32 accumulation.
/// - Training: ``linearInputGradient(_:weight:)`` (`dY · W`) in the same tiles, W read as stored.
/// - Activations and outputs are float32, float16 or bfloat16 natively (no cast through half).
/// - ``batch(_:)`` runs many calls in one command buffer.
///
/// Custom layouts run through the reference decode (they have no shader). Encoding (quantizing) and dense
/// (unquantized) layers run on the CPU: through the `encoder` backend given at creation, else the formats'
/// reference encoders and the reference dense loops.
public struct MetalBackend: KernelBackend, BackendAvailabilityReporting {
  private let encoder: (any KernelBackend)?

  /// Creates the backend. Nothing touches the GPU until the first call.
  ///
  /// - Parameter encoder: The backend whose encoders quantize for this one (the CPU backend in the
  ///   standard registry); `nil` leaves quantization to the formats' reference encoders.
  public init(encoder: (any KernelBackend)? = nil) {
    self.encoder = encoder
  }

  /// `"metal"`.
  public var name: String { "metal" }

  /// Whether an Apple GPU of family 7 or later exists and the shaders compiled (always `false` off
  /// Apple platforms).
  public var isAvailable: Bool { MetalExecution.isAvailable }

  /// Why the backend is unavailable: no Metal on this platform, no device, a GPU that is not Apple
  /// family 7+, SIMD-groups other than 32 wide, or the shader compiler's log. `nil` when available.
  /// (`unavailableReason` on any `KernelBackend` returns it.)
  public var reasonUnavailable: String? { MetalExecution.unavailableReason }

  /// Whether `layout` has shaders: every built-in layout does; custom layouts do not.
  ///
  /// - Parameter layout: A storage layout.
  /// - Returns: `true` for the 4-bit and 8-bit codebook, int8 row-wise and fp8 layouts.
  public func accelerates(_ layout: StorageLayout) -> Bool { KernelLayoutFamily(layout) != nil }

  /// Encodes through the `encoder` backend given at creation (bit-identical to the reference encoders).
  ///
  /// - Parameter request: The layout to encode, the input values and the output buffers.
  /// - Returns: Whether the encoder backend wrote every output buffer; `false` without one.
  public func encode(_ request: EncodingRequest) -> Bool { encoder?.encode(request) ?? false }

  /// Decodes a quantized tensor on the GPU (one rounding from float32, like the reference).
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - dtype: `float32`, `float16` or `bfloat16`.
  /// - Returns: The decoded tensor with the logical shape.
  /// - Throws: `QuantError.unsupportedOperation` (with the reason) where Metal is unavailable; other
  ///   `QuantError`s for inconsistent data or an unsupported dtype.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    guard accelerates(tensor.layout) else { return try ReferenceBackend().dequantize(tensor, to: dtype) }
    return try batch { (batch) throws(QuantError) in _ = try batch.dequantize(tensor, to: dtype) }[0]
  }

  /// Computes `input · weightᵀ + bias` on the GPU, accumulating in float32.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`.
  ///   - bias: Optional `[N]`, any float dtype (converted to float32).
  /// - Returns: `[..., N]` in the input's dtype.
  /// - Throws: `QuantError.unsupportedOperation` (with the reason) where Metal is unavailable; shape and
  ///   dtype errors.
  public func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    guard accelerates(weight.layout) else { return try ReferenceBackend().linear(input, weight: weight, bias: bias) }
    return try batch { (batch) throws(QuantError) in _ = try batch.linear(input, weight: weight, bias: bias) }[0]
  }

  /// Computes `input · weightᵀ + bias` with dense weights (the kept lm_head and embeddings, unquantized
  /// models) on the `encoder` backend given at creation (the CPU kernels in the standard registry); without
  /// one, the reference loops. There is no dense Metal shader yet.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Dense weights `[N, K]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func denseLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws(QuantError) -> Tensor {
    guard let encoder else { return try ReferenceBackend().denseLinear(input, weight: weight, bias: bias) }
    return try encoder.denseLinear(input, weight: weight, bias: bias)
  }

  /// Computes `outputGradient · weight` on the GPU (the input gradient of ``linear(_:weight:bias:)``, for
  /// training adapters over frozen quantized layers): a tiled GEMM that decodes W as stored, accumulating in
  /// float32.
  ///
  /// - Parameters:
  ///   - outputGradient: `[..., N]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`.
  /// - Returns: `[..., K]` in the gradient's dtype.
  /// - Throws: `QuantError.unsupportedOperation` (with the reason) where Metal is unavailable; shape and
  ///   dtype errors.
  public func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Tensor {
    guard accelerates(weight.layout) else {
      return try ReferenceBackend().linearInputGradient(outputGradient, weight: weight)
    }
    return try batch { (batch) throws(QuantError) in _ = try batch.linearInputGradient(outputGradient, weight: weight) }[0]
  }

  /// Runs every call `body` makes on the batch in one command buffer, then returns the results in call
  /// order: one commit and one wait for many dispatches (the projections of a layer, a decode step's
  /// independent matmuls).
  ///
  /// - Parameter body: Encodes calls; each returns the index of its result.
  /// - Returns: The results, in call order.
  /// - Throws: `QuantError` from an encode, or when Metal is unavailable or the GPU fails.
  public func batch(_ body: (MetalBatch) throws(QuantError) -> Void) throws(QuantError) -> [Tensor] {
    let batch = try MetalBatch()
    try body(batch)
    return try batch.run()
  }

  /// Releases the cached weight buffers and pooled buffers (for example after unloading a model).
  public static func clearCaches() { MetalExecution.clearCaches() }
}
