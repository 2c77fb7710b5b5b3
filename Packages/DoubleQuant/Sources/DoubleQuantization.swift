public import QuantCore

/// The nested blocksize bitsandbytes uses for double quantization (and the only one `matmul_4bit` accepts).
public let doubleQuantBlocksize = 256

/// Double-quantizes per-block absmax values (bitsandbytes' `compress_statistics=True`).
///
/// `offset = mean(absmax)` as a float32 computed in torch's single-thread summation order (see
/// ``TorchSum``), then `absmax - offset` (float32) is quantized with ``quantizeBlockwise(_:code:blocksize:rule:)``'s
/// rule onto the signed dynamic map in blocks of `blocksize`.
///
/// - Parameters:
///   - absmax: The float32 absmax of every block, at least one.
///   - blocksize: Absmax values per nested block (256 in bitsandbytes).
///   - offset: The offset to use instead of the computed mean (for example one read from a checkpoint,
///     to re-quantize bit-exactly).
///   - rule: Which bitsandbytes 8-bit kernel to reproduce (default: the default backend; ``Blockwise8Rule/cpuLookupTable``
///     gives the codes a CPU build of bitsandbytes writes).
/// - Returns: The nested absmax (codes, nested scales, map, blocksize and offset).
/// - Throws: `QuantError` for empty input or a non-positive blocksize.
public func doubleQuant(
  absmax: [Float], blocksize: Int = doubleQuantBlocksize, offset: Float? = nil, rule: Blockwise8Rule = .defaultBackend
) throws(QuantError) -> NestedAbsmax {
  guard !absmax.isEmpty else { throw .emptyTensor(context: "doubleQuant") }
  let offset = offset ?? TorchSum.mean(absmax)
  let centred = absmax.map { $0 - offset }
  let (codes, nestedAbsmax) = try Blockwise8Bit.quantize(centred, code: DynamicMap.signed, blocksize: blocksize, rule: rule)
  return NestedAbsmax(codes: codes, absmax: nestedAbsmax, code: DynamicMap.signed, blocksize: blocksize, offset: offset)
}

/// Recovers float32 absmax from double-quantized statistics: `code[q] * absmax2[i / blocksize]`, then
/// `+ offset` as a separate float32 add (never fused), as bitsandbytes' `dequantize_4bit` does.
///
/// - Parameter nested: The nested absmax.
/// - Returns: One float32 absmax per outer block.
/// - Throws: `QuantError.invalidState` when the map or the number of nested scales is inconsistent.
public func dequantAbsmax(_ nested: NestedAbsmax) throws(QuantError) -> [Float] {
  try nested.validate()
  return nested.decoded()
}
