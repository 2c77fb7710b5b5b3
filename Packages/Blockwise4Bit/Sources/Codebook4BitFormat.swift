public import QuantCore

/// The ``QuantizationFormat`` of a 16-entry codebook: everything comes from the codebook's
/// ``Blockwise4BitCodec``, so NF4 (`Codebook4BitFormat<NF4>`), FP4 and a third-party codebook share one
/// implementation. Parameters: `blocksize` (32 … 4096, default 64), `double_quant` (default `false`),
/// `quant_storage` (`uint8` default; `int8`, `float16`, `bfloat16`, `float32`, `float64` view the same
/// bytes) and `double_quant_rule` (`default`, or `cpu` for the nested codes a CPU build of bitsandbytes
/// writes).
public struct Codebook4BitFormat<Codebook: FourBitCodebook>: QuantizationFormat {
  /// Creates the format.
  public init() {}

  /// The codebook's codec.
  public var codec: Blockwise4BitCodec { Codebook.codec }
  /// The codec's quant type.
  public var name: String { Codebook.name }
  /// The codebook's summary.
  public var summary: String { Codebook.summary }
  /// `blocksize`, `double_quant`, `quant_storage`, `double_quant_rule`.
  public var parameterSpecs: [FormatParameterSpec] { Blockwise4BitCodec.parameterSpecs }
  /// Whether the codebook is a bitsandbytes quant type.
  public var isBitsAndBytesCompatible: Bool { Codebook.bitsAndBytesQuantType != nil }

  /// Quantizes with the parameters (reference encoder).
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

  /// The companion keys a weight of this format may have (callers filter by presence).
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The full keys.
  public func companionTensorNames(for weightName: String) -> [String] {
    codec.companionTensorNames(for: weightName)
  }

  /// For bitsandbytes quant types: transformers' `quantization_config`, the job's block completed with
  /// `load_in_4bit`, this quant type, `double_quant` and `quant_storage`. Other codebooks declare
  /// nothing.
  ///
  /// - Parameters:
  ///   - parameters: The parameters the model was quantized with.
  ///   - requested: The job's `quantization:` block, if any.
  /// - Returns: `[("quantization_config", …)]`, or `nil`.
  /// - Throws: `QuantError` for bad parameters.
  public func modelConfiguration(parameters: FormatParameters, requested: BitsAndBytesConfig?) throws(QuantError)
    -> [(key: String, value: ConfigValue)]?
  {
    guard let quantType = Codebook.bitsAndBytesQuantType else { return nil }
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
