public import QuantCore

/// A linear layer `y = x · Wᵀ + b` whose weight is stored quantized.
///
/// The layers are backend-agnostic: `forward` runs on any ``KernelBackend`` (the `cpu` backend's fused
/// kernels, Metal, or the reference loops).
public protocol QuantizedLinearLayer: Sendable {
  /// Input features (`K`, columns of the weight).
  var inFeatures: Int { get }
  /// Output features (`N`, rows of the weight).
  var outFeatures: Int { get }
  /// The quantized weight `[outFeatures, inFeatures]`.
  var weight: QuantizedTensor { get }
  /// The optional bias `[outFeatures]`.
  var bias: Tensor? { get }
  /// Bytes and bits per parameter of the stored weight, its quantization state and the bias.
  var memoryFootprint: MemoryFootprint { get }

  /// Applies the layer to a batch of rows.
  ///
  /// - Parameters:
  ///   - input: `[..., inFeatures]` in float32, float16 or bfloat16.
  ///   - backend: Where to compute.
  /// - Returns: `[..., outFeatures]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  func forward(_ input: Tensor, backend: any KernelBackend) throws(QuantError) -> Tensor
}

// MARK: - Default implementations

extension QuantizedLinearLayer {
  /// The weight's and bias's storage, split as ``MemoryFootprint`` reports it.
  public var memoryFootprint: MemoryFootprint {
    MemoryFootprint(weight: weight, bias: bias)
  }
}

/// Shared checks and helpers of the layers.
enum LinearSupport {
  /// The activation dtypes every layer accepts.
  static let activationTypes: [DType] = [.float32, .float16, .bfloat16]

  /// Checks a weight is 2-D and a bias matches its rows.
  static func validate(weight: QuantizedTensor, bias: Tensor?) throws(QuantError) {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "a linear weight must be [out_features, in_features]")
    }
    if let bias, bias.shape != [weight.shape[0]] {
      throw .shapeMismatch(context: "linear bias", expected: [weight.shape[0]], found: bias.shape)
    }
    if let bias, !activationTypes.contains(bias.dtype) {
      throw .unsupportedDType(bias.dtype, operation: "linear bias", supported: activationTypes)
    }
  }

  /// The `.bias` key that belongs to a `.weight` key (`model.layers.0.q_proj.weight` → `….q_proj.bias`).
  static func biasName(for weightName: String) -> String {
    weightName.hasSuffix(".weight") ? String(weightName.dropLast(".weight".count)) + ".bias" : weightName + ".bias"
  }

  static func checkActivations(_ input: Tensor) throws(QuantError) {
    guard activationTypes.contains(input.dtype) else {
      throw .unsupportedDType(input.dtype, operation: "quantized linear activations", supported: activationTypes)
    }
  }
}
