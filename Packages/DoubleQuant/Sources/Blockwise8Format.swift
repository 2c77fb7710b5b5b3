public import QuantCore

/// bitsandbytes' 8-bit blockwise quantization (`quantize_blockwise`) as a registry format, `blockwise8`.
///
/// Parameters: `blocksize` (any positive integer, default 4096, bitsandbytes' default), `map`
/// (`signed`, default, or `unsigned`) and `rule` (`default` or `cpu`, see ``Blockwise8Rule``). transformers has no checkpoint layout for this format, so ours is
/// `weight` (U8 codes, original shape), `weight.absmax` (F32), `weight.quant_map` (F32[256]) and
/// `weight.quant_state.blockwise8` (the JSON record bitsandbytes uses for 4-bit states).
public struct Blockwise8Format: QuantizationFormat {
  /// Creates the format.
  public init() {}

  /// `"blockwise8"`.
  public var name: String { blockwise8FormatName }
  /// One line for listings.
  public var summary: String { "8-bit dynamic-map codes with blockwise absmax (bitsandbytes quantize_blockwise)" }

  /// `blocksize`: positive, default 4096.
  public static let blocksizeSpec = FormatParameterSpec(
    name: "blocksize", kind: .integerRange(1...Int.max), defaultValue: .int(4096), summary: "Elements per absmax block.")
  /// `map`: `signed` or `unsigned`.
  public static let mapSpec = FormatParameterSpec(
    name: "map", kind: .string(allowed: ["signed", "unsigned"]), defaultValue: .string("signed"),
    summary: "The dynamic map: signed, or unsigned for non-negative data.")

  /// `rule`: `default` or `cpu` (see ``Blockwise8Rule``).
  public static let ruleSpec = FormatParameterSpec(
    name: "rule", kind: .string(allowed: Blockwise8Rule.allCases.map(\.rawValue)), defaultValue: .string("default"),
    summary: "bitsandbytes' default backend (exact nearest code) or its CPU kernel (lookup table).")

  /// `blocksize`, `map`, `rule`.
  public var parameterSpecs: [FormatParameterSpec] { [Self.blocksizeSpec, Self.mapSpec, Self.ruleSpec] }

  /// Quantizes a float32, float16 or bfloat16 tensor.
  ///
  /// - Parameters:
  ///   - tensor: The tensor, at least one element.
  ///   - parameters: `blocksize`, `map`, `rule`.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for unsupported input or parameters.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    let blocksize = try parameters.integer(Self.blocksizeSpec)
    let mapName = try parameters.string(Self.mapSpec)
    guard let map = DynamicMap.named(mapName) else { throw .invalidArgument("unknown map '\(mapName)'") }
    let ruleName = try parameters.string(Self.ruleSpec)
    guard let rule = Blockwise8Rule(rawValue: ruleName) else { throw .invalidArgument("unknown rule '\(ruleName)'") }
    return try quantizeBlockwise(tensor, code: map, blocksize: blocksize, rule: rule)
  }

  /// Decodes to `dtype`.
  ///
  /// - Parameters:
  ///   - tensor: A `blockwise8` tensor.
  ///   - dtype: A floating-point dtype.
  /// - Returns: The decoded tensor.
  /// - Throws: `QuantError` for another layout or inconsistent state.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try dequantizeBlockwise(tensor, to: dtype)
  }

  /// The tensors stored for a `blockwise8` weight.
  ///
  /// - Parameters:
  ///   - tensor: A `blockwise8` tensor.
  ///   - weightName: The weight's key.
  /// - Returns: `weight`, `weight.absmax`, `weight.quant_map`, `weight.quant_state.blockwise8`.
  /// - Throws: `QuantError` for another layout or a nested state.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .codebook8Bit(let codes, let state) = tensor.layout, case .plain(let absmax) = state.absmax else {
      throw .invalidState("blockwise8 checkpoints need 8-bit codebook data with plain absmax")
    }
    try state.validate(codebookSize: 256)
    let record = PackedQuantStateJSON(quantType: name, blocksize: state.blocksize, dtype: state.dtype, shape: state.shape)
    return [
      NamedTensor(weightName, try codes.reshaped(state.shape)),
      NamedTensor(weightName + ".absmax", try Tensor(absmax)),
      NamedTensor(weightName + ".quant_map", try Tensor(state.code)),
      NamedTensor(weightName + ".quant_state." + name, try record.encodedTensor()),
    ]
  }

  /// Reads a `blockwise8` weight, or `nil` when `source` has no `weight.quant_state.blockwise8`.
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where the tensors are.
  /// - Returns: The quantized tensor or `nil`.
  /// - Throws: `QuantError` for missing or inconsistent tensors.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    let stateName = weightName + ".quant_state." + name
    guard let stateTensor = try source.tensor(named: stateName) else { return nil }
    let record = try PackedQuantStateJSON(jsonBytes: stateTensor.bytes)
    guard record.quantType == name, record.blocksize > 0 else {
      throw .invalidState("\(stateName): expected quant_type '\(name)' and a positive blocksize")
    }
    func load(_ key: String, _ dtype: DType, count: Int) throws(QuantError) -> Tensor {
      guard let tensor = try source.tensor(named: key) else { throw .invalidState("missing tensor '\(key)'") }
      guard tensor.dtype == dtype else { throw .unsupportedDType(tensor.dtype, operation: key, supported: [dtype]) }
      guard tensor.elementCount == count else { throw .shapeMismatch(context: key, expected: [count], found: tensor.shape) }
      return tensor
    }
    let count = try record.elementCount(context: weightName)
    let codes = try load(weightName, .uint8, count: count)
    let absmax = try load(
      weightName + ".absmax", .float32, count: BlockwiseCodebookQuantizer.blockCount(count, blocksize: record.blocksize))
    let map = try load(weightName + ".quant_map", .float32, count: 256)
    let state = QuantState(
      absmax: .plain(try absmax.scalars()), shape: record.shape, code: try map.scalars(), dtype: record.dtype,
      blocksize: record.blocksize, quantType: name)
    return QuantizedTensor(
      format: name, shape: record.shape, originalDType: record.dtype,
      layout: .codebook8Bit(codes: try codes.reshaped(record.shape), state: state))
  }

  /// The companion keys of a `blockwise8` weight.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The `absmax`, `quant_map` and JSON-state keys.
  public func companionTensorNames(for weightName: String) -> [String] {
    ["absmax", "quant_map", "quant_state." + name].map { weightName + "." + $0 }
  }
}
