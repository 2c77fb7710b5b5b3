public import Blockwise4Bit
import DoubleQuant
import FormatFP4
import FormatNF4
public import QuantCore

/// bitsandbytes' `Linear4bit` (`Linear4bit`, `LinearNF4`, `LinearFP4`): NF4 or FP4 weights with
/// blockwise absmax, optionally double-quantized, and a compute dtype.
///
/// **Defaults**: `Linear4bit(weight:)` gives **NF4** with double quantization (`compress_statistics=True`,
/// as bitsandbytes' layers), the combination bitsandbytes recommends for LLMs. The Python `Linear4bit`
/// class defaults to FP4; pass `quantType: .fp4` for that. The functional `quantize4bit` (umbrella) and `NF4.quantize` follow
/// bitsandbytes' `quantize_4bit`, whose `compress_statistics` defaults to `false`.
///
/// `forward` follows `Linear4bit.forward`: the bias is first cast to the input dtype, activations and
/// bias are cast to `computeDType` (when set), the product is computed, and the result is cast back to
/// the input dtype. The product itself is the backend's `linear` (float32 accumulation); bitsandbytes'
/// default backend instead dequantizes the weight to the compute dtype before its matmul, so with a
/// float16/bfloat16 compute dtype its weights are rounded once more than ours.
public struct Linear4bit: QuantizedLinearLayer {
  /// The 4-bit codebooks `Linear4bit` offers: bitsandbytes' quant types, the same enum as
  /// transformers' `bnb_4bit_quant_type` (``BitsAndBytesConfig/QuantType``).
  public typealias QuantType = BitsAndBytesConfig.QuantType

  /// The quantized weight (layout ``StorageLayout/codebook4Bit(packed:state:)``).
  public let weight: QuantizedTensor
  /// The bias, kept in its own dtype.
  public let bias: Tensor?
  /// The dtype activations are cast to for the product (bitsandbytes' `compute_dtype`); `nil` keeps the input's.
  public var computeDType: DType?
  /// The codebook.
  public let quantType: QuantType

  /// Input features.
  public var inFeatures: Int { weight.shape[1] }
  /// Output features.
  public var outFeatures: Int { weight.shape[0] }

  /// Quantizes a dense weight, as `Linear4bit(...).to(device)` does.
  ///
  /// - Parameters:
  ///   - weight: `[out_features, in_features]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[out_features]`.
  ///   - quantType: NF4 (the default here: bitsandbytes' `LinearNF4`, which it recommends for LLMs) or FP4
  ///     (the default of the Python `Linear4bit` class and of transformers' `bnb_4bit_quant_type`).
  ///   - blocksize: Elements per absmax block (``Blockwise4BitCodec/defaultBlocksize``, 64, as
  ///     transformers always uses).
  ///   - doubleQuant: Double-quantize the absmax (`compress_statistics`, default `true` as in bitsandbytes).
  ///   - computeDType: `compute_dtype`; `nil` computes in the input dtype.
  ///   - quantStorage: The dtype the packed bytes are viewed as.
  /// - Throws: `QuantError` for a weight that is not 2-D, an unsupported dtype or blocksize.
  public init(
    weight: Tensor, bias: Tensor? = nil, quantType: QuantType = .nf4, blocksize: Int = Blockwise4BitCodec.defaultBlocksize,
    doubleQuant: Bool = true,
    computeDType: DType? = nil, quantStorage: DType = .uint8
  ) throws(QuantError) {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "a linear weight must be [out_features, in_features]")
    }
    let quantized = try quantType.codec.quantize(
      weight, blocksize: blocksize, doubleQuant: doubleQuant, quantStorage: quantStorage)
    try self.init(quantized: quantized, bias: bias, computeDType: computeDType)
  }

  /// Wraps an already quantized NF4 or FP4 weight.
  ///
  /// - Parameters:
  ///   - quantized: A 2-D tensor with the 4-bit codebook layout and format `nf4` or `fp4`.
  ///   - bias: Optional `[out_features]`.
  ///   - computeDType: `compute_dtype`.
  /// - Throws: `QuantError` when the tensor is not a 2-D NF4/FP4 weight or the bias does not fit.
  public init(quantized: QuantizedTensor, bias: Tensor? = nil, computeDType: DType? = nil) throws(QuantError) {
    guard let quantType = QuantType(rawValue: quantized.format), case .codebook4Bit = quantized.layout else {
      throw .invalidState("Linear4bit needs an nf4 or fp4 weight, got '\(quantized.format)' (\(quantized.layout.kind))")
    }
    try LinearSupport.validate(weight: quantized, bias: bias)
    if let computeDType, !LinearSupport.activationTypes.contains(computeDType) {
      throw .unsupportedDType(computeDType, operation: "Linear4bit compute dtype", supported: LinearSupport.activationTypes)
    }
    self.weight = quantized
    self.bias = bias
    self.computeDType = computeDType
    self.quantType = quantType
  }

  /// Loads the layer from checkpoint tensors as transformers saves them (`weight`, `weight.absmax`,
  /// `weight.quant_map`, nested statistics, `weight.quant_state.bitsandbytes__nf4`, and `bias`).
  ///
  /// - Parameters:
  ///   - weightName: The weight key (`model.layers.0.self_attn.q_proj.weight`).
  ///   - source: Where the tensors are.
  ///   - computeDType: `compute_dtype` (transformers' `bnb_4bit_compute_dtype`).
  /// - Returns: The layer, or `nil` when `source` holds no 4-bit weight under that name.
  /// - Throws: `QuantError` when the tensors exist but are inconsistent.
  public static func load(
    weightName: String, from source: any TensorSource, computeDType: DType? = nil
  ) throws(QuantError) -> Linear4bit? {
    for quantType in QuantType.allCases {
      if let quantized = try quantType.codec.loadCheckpoint(weightName: weightName, from: source) {
        let bias = try source.tensor(named: LinearSupport.biasName(for: weightName))
        return try Linear4bit(quantized: quantized, bias: bias, computeDType: computeDType)
      }
    }
    return nil
  }

  /// The checkpoint tensors of this layer (weight and state as transformers names them, then `bias`).
  ///
  /// - Parameter weightName: The weight key.
  /// - Returns: The tensors to write.
  /// - Throws: `QuantError` from the codec.
  public func checkpointTensors(weightName: String) throws(QuantError) -> [NamedTensor] {
    var tensors = try quantType.codec.checkpointTensors(for: weight, weightName: weightName)
    if let bias { tensors.append(NamedTensor(LinearSupport.biasName(for: weightName), bias)) }
    return tensors
  }

  /// `Linear4bit.forward`: cast to the compute dtype, multiply on `backend`, cast back.
  ///
  /// - Parameters:
  ///   - input: `[..., in_features]` in float32, float16 or bfloat16.
  ///   - backend: Where to compute.
  /// - Returns: `[..., out_features]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func forward(_ input: Tensor, backend: any KernelBackend) throws(QuantError) -> Tensor {
    try LinearSupport.checkActivations(input)
    let compute = computeDType ?? input.dtype
    let x = try input.converted(to: compute)
    let b = try bias?.converted(to: input.dtype).converted(to: compute)
    return try backend.linear(x, weight: weight, bias: b).converted(to: input.dtype)
  }
}

extension BitsAndBytesConfig.QuantType {
  /// The 4-bit machinery configured with this quant type's codebook.
  var codec: Blockwise4BitCodec {
    switch self {
    case .nf4: NF4.codec
    case .fp4: FP4.codec
    }
  }
}
