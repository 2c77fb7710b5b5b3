public import QuantCore

/// LLM.int8 (bitsandbytes' `Linear8bitLt`, transformers' `load_in_8bit`): int8 weights with one
/// float32 absmax per output row, bit-identical to bitsandbytes 0.50 (default backend).
///
/// Quantizing follows `Int8Params._quantize`: the weight is rounded to float16, then quantized
/// row-wise (``quantizeRowwise(_:threshold:)``) with threshold 0, so `SCB` is the float16 row absmax.
/// Checkpoints hold `weight` (I8 `[out, in]`), `SCB` (F32 `[out]`) and `weight_format` (U8 scalar 0),
/// exactly what transformers writes and reads.
///
/// Two thresholds exist, and they are different things:
/// - `threshold` (default 6.0) is the *activation* outlier threshold used at matmul time
///   (transformers' `llm_int8_threshold`, bitsandbytes' `Linear8bitLt(threshold=…)`). It does not change
///   the stored weights; it belongs in the model's `quantization_config` and is read with
///   ``activationThreshold(_:)`` by whoever runs ``int8Linear(_:weights:bias:threshold:scale:)``.
/// - `weight_threshold` (default 0.0) is the threshold used when quantizing the *weights*.
///   bitsandbytes always uses 0; a positive value excludes weight outliers from `SCB` and zeroes their
///   columns, which bitsandbytes cannot reproduce, so the result is no longer bitsandbytes-identical.
public struct Int8Format: QuantizationFormat {
  /// The `threshold` parameter: the activation outlier threshold (`llm_int8_threshold`).
  public static let thresholdParameter = FormatParameterSpec(
    name: "threshold", kind: .numberRange(0...Double.greatestFiniteMagnitude), defaultValue: .double(6.0),
    summary: "activation outlier threshold at matmul time (llm_int8_threshold); 0 disables the mixed decomposition")
  /// The `weight_threshold` parameter: the outlier threshold used on the weights (bitsandbytes: 0).
  public static let weightThresholdParameter = FormatParameterSpec(
    name: "weight_threshold", kind: .numberRange(0...Double.greatestFiniteMagnitude), defaultValue: .double(0.0),
    summary: "outlier threshold applied to the weights when quantizing; bitsandbytes always uses 0")

  /// Creates the format.
  public init() {}

  /// `"int8"`.
  public var name: String { "int8" }
  /// One line for listings.
  public var summary: String { "LLM.int8: int8 weights with a float32 absmax per row (bitsandbytes load_in_8bit)" }
  /// `threshold` and `weight_threshold`.
  public var parameterSpecs: [FormatParameterSpec] { [Int8Format.thresholdParameter, Int8Format.weightThresholdParameter] }
  /// Checkpoints load in transformers + bitsandbytes as they are.
  public var isBitsAndBytesCompatible: Bool { true }

  /// Reads the activation threshold (`threshold`) from parameters, defaults applied.
  ///
  /// - Parameter parameters: Format parameters.
  /// - Returns: The threshold to pass to ``int8Linear(_:weights:bias:threshold:scale:)`` and to write as
  ///   `llm_int8_threshold`.
  /// - Throws: `QuantError.invalidArgument` when it is not a non-negative number.
  public func activationThreshold(_ parameters: FormatParameters) throws(QuantError) -> Double {
    try Int8Format.nonNegative(parameters.number(Int8Format.thresholdParameter), name: "threshold")
  }

  /// Quantizes a weight as bitsandbytes' `Int8Params` does: round to float16, then row-wise int8.
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 weight, usually `[out_features, in_features]`.
  ///   - parameters: `weight_threshold` (0 for bitsandbytes-identical output); `threshold` is validated
  ///     but does not affect the weights.
  /// - Returns: A tensor with the ``StorageLayout/int8Rowwise(_:)`` layout.
  /// - Throws: `QuantError` for an unsupported dtype, a scalar or empty last dimension, or bad parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    try quantize(tensor, parameters: parameters, backend: nil)
  }

  /// Quantizes like ``quantize(_:parameters:)``, letting `backend` encode the rows where it has an int8
  /// encoder (bit-identical; used for `weight_threshold: 0`, bitsandbytes' own setting).
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 weight.
  ///   - parameters: `weight_threshold`, `threshold`.
  ///   - backend: The backend to encode with.
  /// - Returns: A tensor with the ``StorageLayout/int8Rowwise(_:)`` layout.
  /// - Throws: `QuantError` for an unsupported dtype or shape, or bad parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters, backend: any KernelBackend) throws(QuantError)
    -> QuantizedTensor
  {
    try quantize(tensor, parameters: parameters, backend: Optional(backend))
  }

  private func quantize(_ tensor: Tensor, parameters: FormatParameters, backend: (any KernelBackend)?) throws(QuantError)
    -> QuantizedTensor
  {
    _ = try activationThreshold(parameters)
    let weightThreshold = try Int8Format.nonNegative(
      parameters.number(Int8Format.weightThresholdParameter), name: "weight_threshold")
    guard rowwiseInputTypes.contains(tensor.dtype) else {
      throw .unsupportedDType(tensor.dtype, operation: "int8 quantization", supported: rowwiseInputTypes)
    }
    let halfPrecision = try tensor.converted(to: .float16)
    let weights: Int8RowwiseWeights
    if weightThreshold == 0, let backend, let encoded = try Int8Format.encode(halfPrecision, on: backend) {
      weights = encoded
    } else {
      weights = try quantizeRowwise(halfPrecision, threshold: weightThreshold)
    }
    return QuantizedTensor(format: name, shape: tensor.shape, originalDType: tensor.dtype, layout: .int8Rowwise(weights))
  }

  /// Row-wise int8 codes from `backend`'s encoder, or `nil` when it has none (or for shapes the
  /// reference path must reject with its own errors).
  static func encode(_ tensor: Tensor, on backend: any KernelBackend) throws(QuantError) -> Int8RowwiseWeights? {
    guard let columns = tensor.shape.last, columns > 0, tensor.elementCount > 0 else { return nil }
    let rows = tensor.elementCount / columns
    let values = try tensor.floats()
    var rowScale = [Float](repeating: 0, count: rows)
    var encoded = false
    let codes = try Tensor(dtype: .int8, shape: tensor.shape) { raw in
      values.withUnsafeBufferPointer { input in
        rowScale.withUnsafeMutableBufferPointer { scales in
          encoded = backend.encode(
            .int8Rowwise(
              values: input, rows: rows, columns: columns, codes: raw.bindMemory(to: Int8.self), rowScale: scales))
        }
      }
    }
    return encoded ? Int8RowwiseWeights(values: codes, rowScale: rowScale) : nil
  }

  /// transformers' `quantization_config` for LLM.int8: the job's block (or transformers' defaults)
  /// with `load_in_8bit` and `llm_int8_threshold` = `threshold`.
  ///
  /// - Parameters:
  ///   - parameters: The parameters the model was quantized with.
  ///   - requested: The job's `quantization:` block, if any.
  /// - Returns: `[("quantization_config", …)]`.
  /// - Throws: `QuantError.invalidArgument` for a bad threshold.
  public func modelConfiguration(parameters: FormatParameters, requested: BitsAndBytesConfig?) throws(QuantError)
    -> [(key: String, value: ConfigValue)]?
  {
    var config = BitsAndBytesConfig.base(fourBit: false, requested: requested)
    config.llmInt8Threshold = try activationThreshold(parameters)
    return [("quantization_config", config.configValue)]
  }

  /// bitsandbytes' `<module>.SCB` marks an LLM.int8 checkpoint.
  ///
  /// - Parameter tensorName: A checkpoint key.
  public func marksQuantizedCheckpoint(tensorName: String) -> Bool {
    tensorName == "SCB" || tensorName.hasSuffix(".SCB")
  }

  static func nonNegative(_ value: Double, name: String) throws(QuantError) -> Double {
    guard value >= 0, value.isFinite else {
      throw .invalidArgument("parameter '\(name)' must be a finite non-negative number, found \(value)")
    }
    return value
  }
}
