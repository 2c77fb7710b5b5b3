/// The argument block of every kernel: the Swift twin of `struct QuantArgs` in `QuantCommon.metal`.
///
/// Sixteen 4-byte fields, no padding; ``bytes`` is what `setBytes` uploads.
public struct QuantKernelArguments: Sendable, Equatable {
  /// N: weight rows (output features), or leading elements for dequantize.
  public var rows: UInt32 = 0
  /// K: weight columns (input features).
  public var columns: UInt32 = 0
  /// M: activation rows.
  public var tokens: UInt32 = 0
  /// Codebook layouts: elements per absmax block over the flat index.
  public var blocksize: UInt32 = 0
  /// 1 when the scales buffer holds uint8 codes of a double-quantized absmax.
  public var nested: UInt32 = 0
  /// Absmax codes per nested block.
  public var nestedBlocksize: UInt32 = 0
  /// The mean added back after decoding nested absmax.
  public var nestedOffset: Float = 0
  /// fp8: rows per scale tile.
  public var scaleRows: UInt32 = 1
  /// fp8: columns per scale tile.
  public var scaleColumns: UInt32 = 1
  /// fp8: number of tile columns, `ceil(K / scaleColumns)`.
  public var scaleGridColumns: UInt32 = 1
  /// fp8: 0 for E4M3FN, 1 for E5M2.
  public var fp8Format: UInt32 = 0
  /// 1 when a bias is bound.
  public var hasBias: UInt32 = 0
  /// 1 when every 16-column chunk of a row lies in one block or tile (GEMV's fast path).
  public var vectorized: UInt32 = 0
  /// rows × columns.
  public var elementCount: UInt32 = 0

  /// Creates zeroed arguments.
  public init() {}

  /// The 64 bytes of the argument block, little-endian, in field order.
  public var bytes: [UInt8] {
    let words: [UInt32] = [
      rows, columns, tokens, blocksize, nested, nestedBlocksize, nestedOffset.bitPattern, scaleRows, scaleColumns,
      scaleGridColumns, fp8Format, hasBias, vectorized, elementCount, 0, 0,
    ]
    return words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
  }
}
