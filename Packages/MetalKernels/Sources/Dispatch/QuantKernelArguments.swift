/// The argument block of every kernel: the Swift twin of `struct QuantArgs` in `QuantCommon.metal`.
///
/// Sixteen 4-byte fields, no padding; ``bytes`` is what `setBytes` uploads.
package struct QuantKernelArguments: Sendable, Equatable {
  /// N: weight rows (output features), or leading elements for dequantize.
  package var rows: UInt32 = 0
  /// K: weight columns (input features).
  package var columns: UInt32 = 0
  /// M: activation rows.
  package var tokens: UInt32 = 0
  /// Codebook layouts: elements per absmax block over the flat index.
  package var blocksize: UInt32 = 0
  /// 1 when the scales buffer holds uint8 codes of a double-quantized absmax.
  package var nested: UInt32 = 0
  /// Absmax codes per nested block.
  package var nestedBlocksize: UInt32 = 0
  /// The mean added back after decoding nested absmax.
  package var nestedOffset: Float = 0
  /// fp8: rows per scale tile.
  package var scaleRows: UInt32 = 1
  /// fp8: columns per scale tile.
  package var scaleColumns: UInt32 = 1
  /// fp8: number of tile columns, `ceil(K / scaleColumns)`.
  package var scaleGridColumns: UInt32 = 1
  /// fp8: 0 for E4M3FN, 1 for E5M2.
  package var fp8Format: UInt32 = 0
  /// 1 when a bias is bound.
  package var hasBias: UInt32 = 0
  /// 1 when every 16-column chunk of a row lies in one block or tile (GEMV's fast path).
  package var vectorized: UInt32 = 0
  /// rows × columns.
  package var elementCount: UInt32 = 0

  /// Creates zeroed arguments.
  package init() {}

  /// The 64 bytes of the argument block, little-endian, in field order.
  package var bytes: [UInt8] {
    let words: [UInt32] = [
      rows, columns, tokens, blocksize, nested, nestedBlocksize, nestedOffset.bitPattern, scaleRows, scaleColumns,
      scaleGridColumns, fp8Format, hasBias, vectorized, elementCount, 0, 0,
    ]
    return words.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
  }
}
