public import QuantCore

/// A bitsandbytes `Linear8bitLt` in inference: int8 weights, an optional bias and the activation
/// outlier threshold, run with ``int8Linear(_:weights:bias:threshold:scale:)``.
///
/// The threshold is configuration, not weight data: transformers stores it once per model as
/// `llm_int8_threshold` (6.0 by default), not in the checkpoint.
public struct Int8Linear: Sendable {
  /// The quantized weights `[out_features, in_features]`.
  public var weights: Int8RowwiseWeights
  /// The bias `[out_features]`, if any.
  public var bias: Tensor?
  /// The activation outlier threshold; 0 disables the mixed-precision decomposition.
  public var threshold: Double

  /// Creates a layer from quantized weights.
  ///
  /// - Parameters:
  ///   - weights: int8 weights and their row absmax.
  ///   - bias: Optional `[out_features]` bias.
  ///   - threshold: The activation outlier threshold (`llm_int8_threshold`).
  public init(weights: Int8RowwiseWeights, bias: Tensor? = nil, threshold: Double = 6.0) {
    self.weights = weights
    self.bias = bias
    self.threshold = threshold
  }

  /// Creates a layer from a tensor made or loaded by ``Int8Format``.
  ///
  /// - Parameters:
  ///   - tensor: A tensor with the ``StorageLayout/int8Rowwise(_:)`` layout.
  ///   - bias: Optional `[out_features]` bias.
  ///   - threshold: The activation outlier threshold (`llm_int8_threshold`).
  /// - Throws: `QuantError.invalidState` for another layout.
  public init(_ tensor: QuantizedTensor, bias: Tensor? = nil, threshold: Double = 6.0) throws(QuantError) {
    guard case .int8Rowwise(let weights) = tensor.layout else {
      throw .invalidState("an LLM.int8 layer needs the int8-rowwise layout, found \(tensor.layout.kind)")
    }
    self.init(weights: weights, bias: bias, threshold: threshold)
  }

  /// Computes `input · Wᵀ + bias` as bitsandbytes does in inference.
  ///
  /// - Parameter input: Activations `[..., in_features]` in float32, float16 or bfloat16.
  /// - Returns: `[..., out_features]` in the input's dtype.
  /// - Throws: `QuantError` on dtype or shape mismatches.
  public func callAsFunction(_ input: Tensor) throws(QuantError) -> Tensor {
    try int8Linear(input, weights: weights, bias: bias, threshold: threshold)
  }
}
