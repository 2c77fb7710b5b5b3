public import FormatFP8
public import QuantCore

/// A linear layer with fp8 weights (E4M3FN or E5M2) and per-tensor, per-row or per-tile scales, as
/// transformers' fine-grained FP8 (`FP8Linear`, 128×128 tiles of `weight_scale_inv`) stores them.
///
/// `forward` is weight-only: the weights decode exactly (`decode(q) · scale`) and the product
/// accumulates in float32 in the input's dtype (transformers' dynamic activation quantization is not
/// applied).
public struct LinearFP8: QuantizedLinearLayer {
  /// The quantized weight (layout ``StorageLayout/float8(_:)``).
  public let weight: QuantizedTensor
  /// The bias.
  public let bias: Tensor?

  /// Input features.
  public var inFeatures: Int { weight.shape[1] }
  /// Output features.
  public var outFeatures: Int { weight.shape[0] }

  /// Quantizes a dense weight.
  ///
  /// - Parameters:
  ///   - weight: `[out_features, in_features]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[out_features]`.
  ///   - encoding: E4M3FN (default) or E5M2.
  ///   - granularity: Which elements share a scale (default 128×128 tiles).
  /// - Throws: `QuantError` for a weight that is not 2-D or an unsupported dtype.
  public init(
    weight: Tensor, bias: Tensor? = nil, encoding: Float8Encoding = .e4m3,
    granularity: Float8ScaleGranularity = .fineGrained
  ) throws(QuantError) {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "a linear weight must be [out_features, in_features]")
    }
    let weights = try quantizeFP8(weight, encoding: encoding, granularity: granularity)
    let quantized = QuantizedTensor(
      format: FP8Format(encoding: encoding).name, shape: weight.shape, originalDType: weight.dtype,
      layout: .float8(weights))
    try self.init(quantized: quantized, bias: bias)
  }

  /// Wraps an already quantized fp8 weight.
  ///
  /// - Parameters:
  ///   - quantized: A 2-D tensor with the fp8 layout.
  ///   - bias: Optional `[out_features]`.
  /// - Throws: `QuantError` when the tensor is not fp8 or the bias does not fit.
  public init(quantized: QuantizedTensor, bias: Tensor? = nil) throws(QuantError) {
    guard case .float8 = quantized.layout else {
      throw .invalidState("LinearFP8 needs fp8 weights, got \(quantized.layout.kind)")
    }
    try LinearSupport.validate(weight: quantized, bias: bias)
    self.weight = quantized
    self.bias = bias
  }

  /// Loads the layer from `weight` and `weight_scale_inv` (and `bias`).
  ///
  /// - Parameters:
  ///   - weightName: The weight key.
  ///   - source: Where the tensors are.
  /// - Returns: The layer, or `nil` when `source` holds no fp8 weight under that name.
  /// - Throws: `QuantError` when the tensors exist but are inconsistent.
  public static func load(weightName: String, from source: any TensorSource) throws(QuantError) -> LinearFP8? {
    for format in [FP8Format.e4m3, FP8Format.e5m2] {
      if let quantized = try format.loadCheckpoint(weightName: weightName, from: source) {
        let bias = try source.tensor(named: LinearSupport.biasName(for: weightName))
        return try LinearFP8(quantized: quantized, bias: bias)
      }
    }
    return nil
  }

  /// The checkpoint tensors of this layer (`weight`, `weight_scale_inv`, then `bias`).
  ///
  /// - Parameter weightName: The weight key.
  /// - Returns: The tensors to write.
  /// - Throws: `QuantError` from the format.
  public func checkpointTensors(weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .float8(let weights) = weight.layout else { throw .invalidState("LinearFP8 lost its fp8 weights") }
    var tensors = try FP8Format(encoding: weights.encoding).checkpointTensors(for: weight, weightName: weightName)
    if let bias { tensors.append(NamedTensor(LinearSupport.biasName(for: weightName), bias)) }
    return tensors
  }

  /// Weight-only fp8 forward on `backend`.
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
