public import QuantCore

/// fp8 weights with scales: E4M3FN (`fp8_e4m3`, transformers' fine-grained FP8 by default) or E5M2
/// (`fp8_e5m2`).
///
/// Encoding is exact round-to-nearest-even with subnormals, checked against torch 2.13 for every
/// float16 and bfloat16 bit pattern and every float32 rounding boundary.
///
/// **E4M3FN overflow policy.** E4M3FN has no infinity. torch 2.13 saturates every magnitude above 448,
/// infinities included, to ±448 (pytorch PR #178817); older torch and `ml_dtypes` give NaN above 464.
/// We follow torch 2.13 by default (`overflow: saturate`) and offer `nan` (the `ml_dtypes` rule) and
/// `ieee`. In the scaled modes values are clamped to ±maxFinite before the cast, exactly as
/// transformers does, so the policy only shows with `scale: none` (a plain cast). E5M2 defaults to
/// `ieee`: magnitudes from 61440 up become ±inf, as in torch.
///
/// Parameters: `scale` (`none`, `tensor`, `row`, `tile`; default `tile`), `tile_size` (default 128, a
/// square tile), `overflow` (`saturate`, `nan`, `ieee`).
/// Checkpoints use transformers' fine-grained FP8 names: `weight` (`F8_E4M3`/`F8_E5M2`) and
/// `weight_scale_inv` (F32; `[ceil(N/t), ceil(K/t)]` for tiles, `[N, 1]` for rows, `[]` per tensor).
public struct FP8Format: QuantizationFormat {
  /// The element encoding.
  public let encoding: Float8Encoding

  /// The `scale` parameter: which elements share one scale.
  public static let scaleParameter = FormatParameterSpec(
    name: "scale", kind: .string(allowed: Float8ScaleGranularity.parameterValues), defaultValue: .string("tile"),
    summary: "scale granularity: tile (transformers fine-grained), row, tensor, or none (plain cast)")
  /// The `tile_size` parameter: the side of a square tile.
  public static let tileSizeParameter = FormatParameterSpec(
    name: "tile_size", kind: .integerRange(1...Int.max), defaultValue: .int(128),
    summary: "tile side for scale: tile (transformers: 128)")

  /// The `overflow` parameter for this encoding (its default is torch 2.13's behaviour).
  public var overflowParameter: FormatParameterSpec {
    FormatParameterSpec(
      name: "overflow", kind: .string(allowed: Float8OverflowPolicy.allCases.map(\.rawValue)),
      defaultValue: .string(defaultOverflow.rawValue),
      summary: "beyond the largest finite value: saturate, nan (ml_dtypes) or ieee (inf for e5m2)")
  }

  /// Creates the format for an encoding.
  ///
  /// - Parameter encoding: E4M3FN or E5M2.
  public init(encoding: Float8Encoding) {
    self.encoding = encoding
  }

  /// The E4M3FN format, `fp8_e4m3`.
  public static let e4m3 = FP8Format(encoding: .e4m3)
  /// The E5M2 format, `fp8_e5m2`.
  public static let e5m2 = FP8Format(encoding: .e5m2)

  /// `"fp8_e4m3"` or `"fp8_e5m2"`.
  public var name: String { "fp8_\(encoding)" }
  /// One line for listings.
  public var summary: String {
    encoding == .e4m3
      ? "fp8 E4M3FN with scales (transformers fine-grained FP8: 128x128 tiles, weight_scale_inv)"
      : "fp8 E5M2 with scales (weight_scale_inv)"
  }
  /// `scale`, `tile_size` and `overflow`.
  public var parameterSpecs: [FormatParameterSpec] {
    [FP8Format.scaleParameter, FP8Format.tileSizeParameter, overflowParameter]
  }

  /// torch 2.13's policy: saturate for E4M3FN, IEEE infinities for E5M2.
  public var defaultOverflow: Float8OverflowPolicy { encoding == .e4m3 ? .saturate : .ieee }

  /// Reads the scale granularity from parameters, defaults applied.
  ///
  /// - Parameter parameters: Format parameters.
  /// - Returns: The granularity.
  /// - Throws: `QuantError.invalidArgument` for an unknown `scale` or a bad `tile_size`.
  public func granularity(_ parameters: FormatParameters) throws(QuantError) -> Float8ScaleGranularity {
    try Float8ScaleGranularity(
      parameter: parameters.string(FP8Format.scaleParameter), tileSize: parameters.integer(FP8Format.tileSizeParameter))
  }

  /// Reads the overflow policy from parameters, defaults applied.
  ///
  /// - Parameter parameters: Format parameters.
  /// - Returns: The policy.
  /// - Throws: `QuantError.invalidArgument` for an unknown policy.
  public func overflowPolicy(_ parameters: FormatParameters) throws(QuantError) -> Float8OverflowPolicy {
    let value = try parameters.string(overflowParameter)
    guard let policy = Float8OverflowPolicy(rawValue: value) else {
      throw .invalidArgument("parameter 'overflow' must be saturate, nan or ieee, found \"\(value)\"")
    }
    return policy
  }

  /// Quantizes with ``quantizeFP8(_:encoding:granularity:overflow:)``.
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 tensor.
  ///   - parameters: `scale`, `tile_size`, `overflow`.
  /// - Returns: A tensor with the ``StorageLayout/float8(_:)`` layout.
  /// - Throws: `QuantError` for an unsupported dtype or bad parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    try quantize(tensor, granularity: granularity(parameters), overflow: overflowPolicy(parameters), backend: nil)
  }

  /// Quantizes like ``quantize(_:parameters:)``, letting `backend` encode where it has an fp8 encoder
  /// (bit-identical; the scales are computed here).
  ///
  /// - Parameters:
  ///   - tensor: A float32, float16 or bfloat16 tensor.
  ///   - parameters: `scale`, `tile_size`, `overflow`.
  ///   - backend: The backend to encode with.
  /// - Returns: A tensor with the ``StorageLayout/float8(_:)`` layout.
  /// - Throws: `QuantError` for an unsupported dtype or bad parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters, backend: any KernelBackend) throws(QuantError)
    -> QuantizedTensor
  {
    try quantize(tensor, granularity: granularity(parameters), overflow: overflowPolicy(parameters), backend: backend)
  }

  /// The `config.json` entries for a model quantized with this format: transformers'
  /// `quantization_config` (see ``quantizationConfig(parameters:modulesToNotConvert:)``).
  ///
  /// - Parameter parameters: The parameters the model was quantized with.
  /// - Returns: `[("quantization_config", …)]`, or `nil` where transformers has no loader for the result
  ///   (E5M2 weights, per-row scales); such checkpoints are still read back by this package.
  /// - Throws: `QuantError.invalidArgument` for bad parameters.
  public func modelConfiguration(parameters: FormatParameters) throws(QuantError) -> [(key: String, value: ConfigValue)]? {
    guard encoding == .e4m3, try granularity(parameters) != .row else { return nil }
    return [("quantization_config", try quantizationConfig(parameters: parameters))]
  }

  /// The `quantization_config` block transformers expects in `config.json` for checkpoints written by
  /// this format (`FineGrainedFP8Config.to_dict()` of transformers 5.24, every field, in its order).
  ///
  /// - Parameters:
  ///   - parameters: The parameters the weights were quantized with (`scale: tile` gives
  ///     `weight_block_size: [t, t]`, `scale: tensor` or `none` gives `null`, per-tensor).
  ///   - modulesToNotConvert: Modules left unquantized (`modules_to_not_convert`), or `nil`.
  /// - Returns: The mapping, e.g. `{"quant_method": "fp8", "modules_to_not_convert": null,
  ///   "modules_to_convert": null, "activation_scheme": "dynamic", "weight_block_size": [128, 128],
  ///   "dequantize": false, "scale_fmt": "float", "expert_dtype": "fp8"}`.
  /// - Throws: `QuantError.invalidArgument` for what transformers cannot load: E5M2 weights or
  ///   `scale: row` (per-row scales have no fine-grained block size).
  public func quantizationConfig(
    parameters: FormatParameters = FormatParameters(), modulesToNotConvert: [String]? = nil
  ) throws(QuantError) -> ConfigValue {
    guard encoding == .e4m3 else {
      throw .invalidArgument("transformers' fine-grained FP8 loads float8_e4m3fn weights only, not \(encoding)")
    }
    let blockSize: ConfigValue
    switch try granularity(parameters) {
    case .tile(let rows, let columns): blockSize = .array([.int(rows), .int(columns)])
    case .tensor, .unscaled: blockSize = .null
    case .row:
      throw .invalidArgument("transformers' fine-grained FP8 has no per-row scales; use scale: tile or tensor")
    }
    return .object([
      ("quant_method", .string("fp8")),
      ("modules_to_not_convert", modulesToNotConvert.map { .array($0.map(ConfigValue.string)) } ?? .null),
      ("modules_to_convert", .null),
      ("activation_scheme", .string("dynamic")),
      ("weight_block_size", blockSize),
      ("dequantize", .bool(false)),
      ("scale_fmt", .string("float")),
      ("expert_dtype", .string("fp8")),
    ])
  }
}
