public import QuantCore

/// A ``QuantizationFormat`` that is a ``Blockwise4BitCodec`` with a codebook: everything but the name's
/// documentation comes from the codec. NF4 and FP4 conform; a third-party 16-entry codebook format can too.
public protocol Codebook4BitFormat: QuantizationFormat {
  /// The codec configured with this format's codebook and quant type.
  var codec: Blockwise4BitCodec { get }
}

// MARK: - Default implementations

extension Codebook4BitFormat {
  /// The codec's quant type.
  public var name: String { codec.quantType }

  /// `blocksize`, `double_quant`, `quant_storage`.
  public var parameterSpecs: [FormatParameterSpec] { Blockwise4BitCodec.parameterSpecs }

  /// Quantizes with `blocksize`, `double_quant` and `quant_storage`.
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 tensor with at least one element.
  ///   - parameters: Values over the defaults.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for unsupported input or parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    try codec.quantize(tensor, parameters: parameters)
  }

  /// Quantizes with the backend's encoder where it has one (bit-identical to the reference encoder).
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 tensor with at least one element.
  ///   - parameters: Values over the defaults.
  ///   - backend: The backend to encode with.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for unsupported input or parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters, backend: any KernelBackend) throws(QuantError)
    -> QuantizedTensor
  {
    try codec.quantize(tensor, parameters: parameters, backend: backend)
  }

  /// Decodes to `dtype` with one rounding from float32.
  ///
  /// - Parameters:
  ///   - tensor: A tensor of this format.
  ///   - dtype: float32, float16 or bfloat16.
  /// - Returns: The decoded tensor.
  /// - Throws: `QuantError` for another layout, inconsistent state or an unsupported dtype.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try codec.dequantize(tensor, to: dtype)
  }

  /// The tensors transformers writes for a bitsandbytes 4-bit weight.
  ///
  /// - Parameters:
  ///   - tensor: A tensor of this format.
  ///   - weightName: The weight's key.
  /// - Returns: `weight`, `weight.absmax`, `weight.quant_map`, nested tensors if any, and the JSON state.
  /// - Throws: `QuantError` when `tensor` is not this format's data.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    try codec.checkpointTensors(for: tensor, weightName: weightName)
  }

  /// Reads a weight of this format, or `nil` when `source` holds no JSON state for it.
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where the tensors are.
  /// - Returns: The quantized tensor or `nil`.
  /// - Throws: `QuantError` when the stored tensors are inconsistent.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    try codec.loadCheckpoint(weightName: weightName, from: source)
  }

  /// The companion keys a weight of this format may have: `absmax`, `quant_map` and the JSON state always,
  /// ``Blockwise4BitCodec/nestedCompanionTensorNames(for:)`` when double-quantized.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The full keys (callers filter by presence).
  public func companionTensorNames(for weightName: String) -> [String] {
    codec.companionTensorNames(for: weightName)
  }

  /// For bitsandbytes quant types (`nf4`, `fp4`): transformers' `quantization_config`, the job's block
  /// completed with `load_in_4bit`, this quant type, `double_quant` and `quant_storage`. Other codebooks
  /// declare nothing (``QuantizationFormat/modelConfiguration(parameters:)``).
  ///
  /// - Parameters:
  ///   - parameters: The parameters the model was quantized with.
  ///   - requested: The job's `quantization:` block, if any.
  /// - Returns: `[("quantization_config", …)]`, or the format's own entries.
  /// - Throws: `QuantError` for bad parameters.
  public func modelConfiguration(parameters: FormatParameters, requested: BitsAndBytesConfig?) throws(QuantError)
    -> [(key: String, value: ConfigValue)]?
  {
    guard isBitsAndBytesCompatible, let quantType = BitsAndBytesConfig.QuantType(rawValue: codec.quantType) else {
      return try modelConfiguration(parameters: parameters)
    }
    var config = BitsAndBytesConfig.base(fourBit: true, requested: requested)
    config.bnb4bitQuantType = quantType
    config.bnb4bitUseDoubleQuant = try parameters.bool(Blockwise4BitCodec.doubleQuantSpec)
    let storage = DType(torchName: try parameters.string(Blockwise4BitCodec.quantStorageSpec))
    config.bnb4bitQuantStorage = requested?.bnb4bitQuantStorage == nil && storage == .uint8 ? nil : storage
    return [("quantization_config", config.configValue)]
  }

  /// The JSON state tensor `<weight>.quant_state.bitsandbytes__<quant type>` marks this format's checkpoints.
  ///
  /// - Parameter tensorName: A checkpoint key.
  public func marksQuantizedCheckpoint(tensorName: String) -> Bool {
    tensorName.hasSuffix("." + PackedQuantStateJSON.tensorSuffix(quantType: codec.quantType))
  }
}
