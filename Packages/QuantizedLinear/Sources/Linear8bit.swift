import FormatINT8
public import QuantCore

/// bitsandbytes' `Linear8bitLt` (LLM.int8) in inference mode: int8 weights with one absmax per row
/// (`CB`, `SCB`) and an activation outlier threshold.
///
/// Two forward paths:
/// - ``forward(_:)`` is LLM.int8 as bitsandbytes runs it (`Linear8bitLt.eval()`): activations are
///   quantized to int8 per row, outlier columns (`|x| ≥ threshold`) go through floating point; bit-identical
///   to bitsandbytes' default backend for float16/bfloat16 inputs (see ``int8Linear(_:weights:bias:threshold:scale:)``).
/// - ``forward(_:backend:)`` dequantizes the weights and multiplies in float32 on a backend (the fused
///   `cpu` kernels), which is bitsandbytes' `MatMul8bitFp` path (used on CPU in training mode): faster,
///   no activation quantization, no outlier split.
public struct Linear8bit: QuantizedLinearLayer {
  /// The quantized weight (layout ``StorageLayout/int8Rowwise(_:)``).
  public let weight: QuantizedTensor
  /// The bias.
  public let bias: Tensor?
  /// The activation outlier threshold (`llm_int8_threshold`, 6.0 by default); 0 disables the decomposition.
  public var threshold: Double

  /// Input features.
  public var inFeatures: Int { weight.shape[1] }
  /// Output features.
  public var outFeatures: Int { weight.shape[0] }

  /// Quantizes a dense weight as `Int8Params` does (rounded to float16, then row-wise int8).
  ///
  /// - Parameters:
  ///   - weight: `[out_features, in_features]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[out_features]`.
  ///   - threshold: The activation outlier threshold.
  /// - Throws: `QuantError` for a weight that is not 2-D or an unsupported dtype.
  public init(weight: Tensor, bias: Tensor? = nil, threshold: Double = 6.0) throws(QuantError) {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "a linear weight must be [out_features, in_features]")
    }
    let quantized = try Int8Format().quantize(weight, parameters: FormatParameters())
    try self.init(quantized: quantized, bias: bias, threshold: threshold)
  }

  /// Wraps an already quantized int8 weight.
  ///
  /// - Parameters:
  ///   - quantized: A 2-D tensor with the int8 row-wise layout.
  ///   - bias: Optional `[out_features]`.
  ///   - threshold: The activation outlier threshold.
  /// - Throws: `QuantError` when the tensor is not int8 row-wise or the bias does not fit.
  public init(quantized: QuantizedTensor, bias: Tensor? = nil, threshold: Double = 6.0) throws(QuantError) {
    guard case .int8Rowwise = quantized.layout else {
      throw .invalidState("Linear8bit needs int8 row-wise weights, got \(quantized.layout.kind)")
    }
    guard threshold >= 0 else { throw .invalidArgument("threshold must be non-negative, got \(threshold)") }
    try LinearSupport.validate(weight: quantized, bias: bias)
    self.weight = quantized
    self.bias = bias
    self.threshold = threshold
  }

  /// Loads the layer from `weight`, `SCB`, `weight_format` and `bias` as transformers saves them.
  ///
  /// - Parameters:
  ///   - weightName: The weight key.
  ///   - source: Where the tensors are.
  ///   - threshold: The activation outlier threshold (`llm_int8_threshold` from the model config).
  /// - Returns: The layer, or `nil` when `source` holds no int8 weight under that name.
  /// - Throws: `QuantError` when the tensors exist but are inconsistent.
  public static func load(
    weightName: String, from source: any TensorSource, threshold: Double = 6.0
  ) throws(QuantError) -> Linear8bit? {
    guard let quantized = try Int8Format().loadCheckpoint(weightName: weightName, from: source) else { return nil }
    let bias = try source.tensor(named: LinearSupport.biasName(for: weightName))
    return try Linear8bit(quantized: quantized, bias: bias, threshold: threshold)
  }

  /// The checkpoint tensors of this layer (`weight`, `SCB`, `weight_format`, then `bias`).
  ///
  /// - Parameter weightName: The weight key.
  /// - Returns: The tensors to write.
  /// - Throws: `QuantError` from the format.
  public func checkpointTensors(weightName: String) throws(QuantError) -> [NamedTensor] {
    var tensors = try Int8Format().checkpointTensors(for: weight, weightName: weightName)
    if let bias { tensors.append(NamedTensor(LinearSupport.biasName(for: weightName), bias)) }
    return tensors
  }

  private var weights: Int8RowwiseWeights {
    get throws(QuantError) {
      guard case .int8Rowwise(let weights) = weight.layout else {
        throw .invalidState("Linear8bit lost its int8 weights")
      }
      return weights
    }
  }

  /// LLM.int8 forward as bitsandbytes' `Linear8bitLt` runs in eval mode.
  ///
  /// - Parameter input: `[..., in_features]` in float32, float16 or bfloat16.
  /// - Returns: `[..., out_features]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func forward(_ input: Tensor) throws(QuantError) -> Tensor {
    try LinearSupport.checkActivations(input)
    return try int8Linear(input, weights: weights, bias: bias?.converted(to: input.dtype), threshold: threshold)
  }

  /// Dequantized-weight forward on `backend` (`MatMul8bitFp`): float32 accumulation, no outlier split.
  ///
  /// - Parameters:
  ///   - input: `[..., in_features]` in float32, float16 or bfloat16.
  ///   - backend: Where to compute.
  /// - Returns: `[..., out_features]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func forward(_ input: Tensor, backend: any KernelBackend) throws(QuantError) -> Tensor {
    try LinearSupport.checkActivations(input)
    return try backend.linear(input, weight: weight, bias: bias?.converted(to: input.dtype))
  }
}
