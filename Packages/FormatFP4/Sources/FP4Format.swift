import DoubleQuant
public import QuantCore

/// The FP4 quantization format, bit-identical to bitsandbytes' default backend and stored as transformers
/// saves `bnb_4bit_quant_type="fp4"` weights.
///
/// Parameters: `blocksize` (32 … 4096, default 64), `double_quant` (default `false`) and `quant_storage`
/// (`uint8` default; `int8`, `float16`, `bfloat16`, `float32`, `float64` view the same bytes).
public struct FP4Format: QuantizationFormat {
  /// Creates the format.
  public init() {}

  /// `"fp4"`.
  public var name: String { FP4.name }
  /// One line for listings.
  public var summary: String { "4-bit float (E2M1 with a subnormal) with blockwise absmax (bitsandbytes fp4)" }
  /// `blocksize`, `double_quant`, `quant_storage`.
  public var parameterSpecs: [FormatParameterSpec] { Blockwise4BitCodec.parameterSpecs }
  /// FP4 checkpoints load in transformers + bitsandbytes unchanged.
  public var isBitsAndBytesCompatible: Bool { true }

  /// Quantizes a float32, float16 or bfloat16 tensor.
  ///
  /// - Parameters:
  ///   - tensor: The tensor, at least one element.
  ///   - parameters: `blocksize`, `double_quant`, `quant_storage`.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for unsupported input or parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    try FP4.codec.quantize(tensor, parameters: parameters)
  }

  /// Decodes to `dtype` with one rounding from float32.
  ///
  /// - Parameters:
  ///   - tensor: An FP4 tensor.
  ///   - dtype: float32, float16 or bfloat16.
  /// - Returns: The decoded tensor.
  /// - Throws: `QuantError` for another layout, inconsistent state or an unsupported dtype.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try FP4.codec.dequantize(tensor, to: dtype)
  }

  /// The tensors transformers writes for an FP4 weight.
  ///
  /// - Parameters:
  ///   - tensor: An FP4 tensor.
  ///   - weightName: The weight's key.
  /// - Returns: `weight`, `weight.absmax`, `weight.quant_map`, nested tensors if any, `weight.quant_state.bitsandbytes__fp4`.
  /// - Throws: `QuantError` when `tensor` is not FP4 data.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    try FP4.codec.checkpointTensors(for: tensor, weightName: weightName)
  }

  /// Reads an FP4 weight, or `nil` when `source` holds no `weight.quant_state.bitsandbytes__fp4`.
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where the tensors are.
  /// - Returns: The quantized tensor or `nil`.
  /// - Throws: `QuantError` when the stored tensors are inconsistent.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    try FP4.codec.loadCheckpoint(weightName: weightName, from: source)
  }

  /// The companion keys every FP4 weight has.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The `absmax`, `quant_map` and JSON-state keys (double-quantized weights add `nested_absmax` and
  ///   `nested_quant_map`).
  public func companionTensorNames(for weightName: String) -> [String] {
    FP4.codec.companionTensorNames(for: weightName)
  }
}
