public import DoubleQuant
public import QuantCore

/// Everything a bitsandbytes-style 4-bit codebook format does, for any 16-entry codebook: blockwise
/// quantization with plain or double-quantized absmax, decoding, and the checkpoint layout transformers
/// writes (`weight`, `weight.absmax`, `weight.quant_map`, `weight.nested_absmax`,
/// `weight.nested_quant_map`, `weight.quant_state.bitsandbytes__<quant_type>`).
///
/// NF4 and FP4 are this codec with their codebooks; a third-party 16-entry codebook format can reuse it
/// and gets every backend's 4-bit kernels, since the storage layout is ``StorageLayout/codebook4Bit(packed:state:)``.
public struct Blockwise4BitCodec: Sendable {
  /// The quant type written to checkpoints and states (`"nf4"`).
  public let quantType: String
  /// The 16-entry codebook, index → value.
  public let code: [Float]
  /// The index selection for `code`.
  public let quantizer: BlockwiseCodebookQuantizer

  /// The blocksizes bitsandbytes accepts for 4-bit quantization.
  public static var supportedBlocksizes: [Int] { BlockwiseCodebookQuantizer.supportedBlocksizes }
  /// The input dtypes bitsandbytes accepts.
  public static let supportedDTypes: [DType] = [.float32, .float16, .bfloat16]
  /// The `quant_storage` dtypes transformers accepts (the packed bytes are the same; only the view changes).
  public static let supportedStorage: [DType] = [.uint8, .int8, .float16, .bfloat16, .float32, .float64]
  /// The default blocksize (transformers never passes another).
  public static let defaultBlocksize = 64

  /// Creates a codec.
  ///
  /// - Parameters:
  ///   - quantType: The name stored in checkpoints; lowercase letters and digits.
  ///   - code: 16 float32 values in [-1, 1].
  /// - Throws: `QuantError.invalidArgument` for a codebook that is not 16 values.
  public init(quantType: String, code: [Float]) throws(QuantError) {
    guard code.count == 16 else { throw .invalidArgument("a 4-bit codebook needs 16 entries, found \(code.count)") }
    self.quantType = quantType
    self.code = code
    self.quantizer = try BlockwiseCodebookQuantizer(code: code)
  }

  /// Creates the codec of a codebook table compiled into a program (NF4's, FP4's), given as float32 bit
  /// patterns. Such a table is a constant, so a wrong one is a programming error, not bad input.
  ///
  /// - Parameters:
  ///   - quantType: The name stored in checkpoints.
  ///   - bitPatterns: 16 float32 bit patterns, index → value.
  public init(constantTable quantType: String, bitPatterns: [UInt32]) {
    do {
      try self.init(quantType: quantType, code: bitPatterns.map(Float.init(bitPattern:)))
    } catch {
      preconditionFailure("the built-in \(quantType) codebook must be 16 finite values: \(error)")
    }
  }

  // MARK: - Quantization

  /// Quantizes a tensor as bitsandbytes' `quantize_4bit` does on its default backend.
  ///
  /// - Parameters:
  ///   - tensor: float32, float16 or bfloat16, at least one element, any shape.
  ///   - blocksize: One of ``supportedBlocksizes``.
  ///   - doubleQuant: Whether to double-quantize the absmax (`compress_statistics`).
  ///   - quantStorage: The dtype the packed bytes are viewed as (`[(n+1)/2/itemsize, 1]`).
  ///   - offset: For double quantization, the offset to use instead of the computed mean.
  ///   - nestedRule: For double quantization, which bitsandbytes 8-bit kernel picks the nested codes.
  /// - Returns: The quantized tensor (layout ``StorageLayout/codebook4Bit(packed:state:)``).
  /// - Throws: `QuantError` for an unsupported dtype, blocksize or storage, or an empty tensor.
  public func quantize(
    _ tensor: Tensor, blocksize: Int = defaultBlocksize, doubleQuant: Bool = false, quantStorage: DType = .uint8,
    offset: Float? = nil, nestedRule: Blockwise8Rule = .defaultBackend, backend: (any KernelBackend)? = nil
  ) throws(QuantError) -> QuantizedTensor {
    let operation = "\(quantType) quantization"
    guard Self.supportedDTypes.contains(tensor.dtype) else {
      throw .unsupportedDType(tensor.dtype, operation: operation, supported: Self.supportedDTypes)
    }
    guard Self.supportedBlocksizes.contains(blocksize) else {
      throw .unsupportedBlocksize(blocksize, supported: Self.supportedBlocksizes)
    }
    guard Self.supportedStorage.contains(quantStorage) else {
      throw .unsupportedDType(quantStorage, operation: "\(quantType) quant_storage", supported: Self.supportedStorage)
    }
    let count = tensor.elementCount
    guard count > 0 else { throw .emptyTensor(context: operation) }
    let packedBytes = count.dividedRoundingUp(by: 2)
    guard packedBytes % quantStorage.byteSize == 0 else {
      throw .invalidArgument(
        "\(packedBytes) packed bytes cannot be viewed as \(quantStorage) (\(quantStorage.byteSize) bytes per element)")
    }
    let values = try tensor.floats()
    var absmax = [Float](repeating: 0, count: BlockwiseCodebookQuantizer.blockCount(count, blocksize: blocksize))
    let packed = try Tensor(dtype: quantStorage, shape: [packedBytes / quantStorage.byteSize, 1]) { raw in
      values.withUnsafeBufferPointer { input in
        absmax.withUnsafeMutableBufferPointer { scales in
          let accelerated =
            backend?.encode(
              .codebook4Bit(values: input, quantizer: quantizer, blocksize: blocksize, packed: raw, absmax: scales)) ?? false
          if !accelerated { quantizer.quantizePacked4Bit(input, blocksize: blocksize, packed: raw, absmax: scales) }
        }
      }
    }
    let scales: BlockScales =
      doubleQuant ? .nested(try DoubleQuant.doubleQuant(absmax: absmax, offset: offset, rule: nestedRule)) : .plain(absmax)
    let state = QuantState(
      absmax: scales, shape: tensor.shape, code: code, dtype: tensor.dtype, blocksize: blocksize, quantType: quantType)
    return QuantizedTensor(
      format: quantType, shape: tensor.shape, originalDType: tensor.dtype, layout: .codebook4Bit(packed: packed, state: state))
  }

  /// Quantizes with format parameters (`blocksize`, `double_quant`, `quant_storage`, `double_quant_rule`).
  ///
  /// - Parameters:
  ///   - tensor: The tensor.
  ///   - parameters: Values over the defaults of ``parameterSpecs``.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for bad parameters or input.
  public func quantize(
    _ tensor: Tensor, parameters: FormatParameters, backend: (any KernelBackend)? = nil
  ) throws(QuantError) -> QuantizedTensor {
    let storageName = try parameters.string(Self.quantStorageSpec)
    guard let storage = DType(torchName: storageName) else {
      throw .invalidArgument("unknown quant_storage '\(storageName)'")
    }
    let ruleName = try parameters.string(Self.doubleQuantRuleSpec)
    guard let rule = Blockwise8Rule(rawValue: ruleName) else { throw .invalidArgument("unknown double_quant_rule '\(ruleName)'") }
    return try quantize(
      tensor, blocksize: parameters.integer(Self.blocksizeSpec), doubleQuant: parameters.bool(Self.doubleQuantSpec),
      quantStorage: storage, nestedRule: rule, backend: backend)
  }

  /// Decodes to `dtype`: `code[nibble] * absmax[block]` in float32, rounded once.
  ///
  /// - Parameters:
  ///   - tensor: A 4-bit codebook tensor.
  ///   - dtype: float32, float16 or bfloat16; `nil` means the original dtype.
  /// - Returns: The decoded tensor with the logical shape.
  /// - Throws: `QuantError` for another layout, inconsistent state, or an unsupported dtype.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
    guard case .codebook4Bit = tensor.layout else {
      throw .invalidState("\(quantType) dequantization needs 4-bit codebook data, found layout '\(tensor.layout.kind)'")
    }
    let target = dtype ?? tensor.originalDType
    guard Self.supportedDTypes.contains(target) else {
      throw .unsupportedDType(target, operation: "\(quantType) dequantization", supported: Self.supportedDTypes)
    }
    return try Tensor(converting: tensor.layout.dequantizedFloats(), to: target, shape: tensor.shape)
  }

  // MARK: - Parameters

  /// `blocksize`: one of 32 … 4096, default 64.
  public static let blocksizeSpec = FormatParameterSpec(
    name: "blocksize", kind: .blocksize(supported: supportedBlocksizes), defaultValue: .int(defaultBlocksize),
    summary: "Elements per absmax block.")
  /// `double_quant`: default false.
  public static let doubleQuantSpec = FormatParameterSpec(
    name: "double_quant", kind: .bool, defaultValue: .bool(false),
    summary: "Quantize the absmax again with 8-bit blocks of 256 (bnb_4bit_use_double_quant).")
  /// `quant_storage`: default `uint8`.
  public static let quantStorageSpec = FormatParameterSpec(
    name: "quant_storage", kind: .string(allowed: supportedStorage.map(\.rawValue)), defaultValue: .string("uint8"),
    summary: "The dtype the packed bytes are stored as (bnb_4bit_quant_storage); the bytes do not change.")

  /// `double_quant_rule`: `default` (bitsandbytes' default backend) or `cpu` (its CPU C++ kernel).
  public static let doubleQuantRuleSpec = FormatParameterSpec(
    name: "double_quant_rule", kind: .string(allowed: Blockwise8Rule.allCases.map(\.rawValue)), defaultValue: .string("default"),
    summary: "How nested absmax codes are chosen: bitsandbytes' default backend (exact nearest) or its CPU kernel (lookup table)."
  )

  /// The parameters of a 4-bit codebook format.
  public static let parameterSpecs = [blocksizeSpec, doubleQuantSpec, quantStorageSpec, doubleQuantRuleSpec]
}
