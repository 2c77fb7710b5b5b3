public import DoubleQuant
public import QuantCore

/// A 16-entry codebook for blockwise 4-bit quantization: NF4 and FP4 conform, and so can a third-party
/// codebook. Conforming is all it takes to get a registered format (``Codebook4BitFormat``), a plugin
/// (``Codebook4BitPlugin``), the functional API (``quantize(_:blocksize:doubleQuant:quantStorage:doubleQuantRule:backend:)``)
/// and every backend's 4-bit kernels, since the storage layout is ``StorageLayout/codebook4Bit(packed:state:)``.
///
/// ```swift
/// enum Uniform4: FourBitCodebook {
///   static let codec = try! Blockwise4BitCodec(quantType: "uniform4", code: (0..<16).map { Float($0) / 7.5 - 1 })
///   static let summary = "16 evenly spaced values"
/// }
/// try registry.install(Codebook4BitPlugin<Uniform4>())
/// ```
public protocol FourBitCodebook: Sendable {
  /// The codec configured with this codebook (store it once, in a `static let`).
  static var codec: Blockwise4BitCodec { get }
  /// One line for `bnb-patch formats`.
  static var summary: String { get }
  /// Extra registry names for the format.
  static var aliases: [String] { get }
  /// The bitsandbytes quant type this codebook is, when transformers + bitsandbytes can load its
  /// checkpoints (`.nf4`, `.fp4`); `nil` for any other codebook.
  static var bitsAndBytesQuantType: BitsAndBytesConfig.QuantType? { get }
}

// MARK: - Default implementations

extension FourBitCodebook {
  /// No aliases.
  public static var aliases: [String] { [] }
  /// Not a bitsandbytes quant type.
  public static var bitsAndBytesQuantType: BitsAndBytesConfig.QuantType? { nil }

  /// The format and quant-type name (`"nf4"`).
  public static var name: String { codec.quantType }
  /// The codebook, index → value.
  public static var codebook: [Float] { codec.code }
  /// Whether the format can run here: always, the reference implementation needs nothing native.
  public static var isAvailable: Bool { true }

  /// Quantizes a tensor with this codebook, as bitsandbytes' `quantize_4bit` does on its default backend.
  ///
  /// - Parameters:
  ///   - tensor: float32, float16 or bfloat16, at least one element.
  ///   - blocksize: One of ``BlockwiseCodebookQuantizer/supportedBlocksizes`` (default 64).
  ///   - doubleQuant: Whether to double-quantize the absmax (`compress_statistics`; bitsandbytes'
  ///     `quantize_4bit` defaults to `false`, its `Linear4bit` layers to `true`).
  ///   - quantStorage: The dtype the packed bytes are viewed as (default `uint8`).
  ///   - doubleQuantRule: Which bitsandbytes 8-bit kernel picks the nested codes.
  ///   - backend: A backend to encode with (bit-identical, faster); `nil` runs the reference encoder.
  /// - Returns: The quantized tensor.
  /// - Throws: `QuantError` for an unsupported dtype, blocksize or storage, or an empty tensor.
  public static func quantize(
    _ tensor: Tensor, blocksize: Int = Blockwise4BitCodec.defaultBlocksize, doubleQuant: Bool = false,
    quantStorage: DType = .uint8, doubleQuantRule: Blockwise8Rule = .defaultBackend, backend: (any KernelBackend)? = nil
  ) throws(QuantError) -> QuantizedTensor {
    try codec.quantize(
      tensor, blocksize: blocksize, doubleQuant: doubleQuant, quantStorage: quantStorage, nestedRule: doubleQuantRule,
      backend: backend)
  }

  /// Decodes a tensor of this codebook (bitsandbytes' `dequantize_4bit`): `code[nibble] · absmax` in
  /// float32, one rounding.
  ///
  /// - Parameters:
  ///   - tensor: A tensor quantized with this codebook.
  ///   - dtype: The output dtype; `nil` means the original dtype.
  /// - Returns: The decoded tensor with the original shape.
  /// - Throws: `QuantError` for another format, inconsistent state or an unsupported dtype.
  public static func dequantize(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
    guard tensor.format == name else { throw .invalidState("\(name) dequantization got a '\(tensor.format)' tensor") }
    return try codec.dequantize(tensor, to: dtype)
  }
}
