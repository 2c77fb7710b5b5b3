public import QuantCore

/// The name bitsandbytes-style 8-bit blockwise tensors carry (``QuantizedTensor/format``).
public let blockwise8FormatName = "blockwise8"

/// Quantizes a tensor to 8-bit codes into a 256-entry map with one float32 absmax per block
/// (bitsandbytes' `quantize_blockwise`, default torch backend).
///
/// With the default rule each block is normalised by its absmax (reciprocal multiply for full blocks,
/// division for the trailing partial block) and each value takes the index of the nearest map entry, ties to
/// the lower index; an all-zero block gets the index of 0.0 (127 in the signed map). bitsandbytes' CPU C++
/// kernel uses a 65536-bin lookup table instead (``Blockwise8Rule/cpuLookupTable``).
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor with at least one element.
///   - code: The 256-entry map, sorted ascending (default: ``DynamicMap/signed``).
///   - blocksize: Elements per block; any positive integer (bitsandbytes' default is 4096).
///   - rule: Which bitsandbytes kernel to reproduce (default: the default backend).
/// - Returns: A tensor with layout ``StorageLayout/codebook8Bit(codes:state:)``, codes shaped like the input.
/// - Throws: `QuantError` for an empty tensor, an unsupported dtype, a non-positive blocksize or a bad map.
public func quantizeBlockwise(
  _ tensor: Tensor, code: [Float] = DynamicMap.signed, blocksize: Int = 4096, rule: Blockwise8Rule = .defaultBackend
) throws(QuantError) -> QuantizedTensor {
  try Blockwise8Bit.checkInput(tensor, operation: "quantizeBlockwise")
  let (codes, absmax) = try Blockwise8Bit.quantize(tensor.floats(), code: code, blocksize: blocksize, rule: rule)
  let state = QuantState(
    absmax: .plain(absmax), shape: tensor.shape, code: code, dtype: tensor.dtype, blocksize: blocksize,
    quantType: blockwise8FormatName)
  return QuantizedTensor(
    format: blockwise8FormatName, shape: tensor.shape, originalDType: tensor.dtype,
    layout: .codebook8Bit(codes: try Tensor(codes, shape: tensor.shape), state: state))
}

/// Decodes 8-bit blockwise codes: `code[q] * absmax[i / blocksize]` in float32, then one rounding to `dtype`
/// (bitsandbytes' `dequantize_blockwise`).
///
/// - Parameters:
///   - tensor: A tensor with layout ``StorageLayout/codebook8Bit(codes:state:)``.
///   - dtype: The output dtype; `nil` means the original dtype.
/// - Returns: The decoded tensor with the logical shape.
/// - Throws: `QuantError` when the layout is not 8-bit codebook data or the state is inconsistent.
public func dequantizeBlockwise(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
  guard case .codebook8Bit = tensor.layout else {
    throw .invalidState("dequantizeBlockwise needs 8-bit codebook data, found layout '\(tensor.layout.kind)'")
  }
  return try Tensor(converting: tensor.layout.dequantizedFloats(), to: dtype ?? tensor.originalDType, shape: tensor.shape)
}

/// The 8-bit blockwise rule on plain float arrays (shared by ``quantizeBlockwise(_:code:blocksize:rule:)`` and
/// ``doubleQuant(absmax:blocksize:offset:rule:)``).
public enum Blockwise8Bit {
  /// The input dtypes `quantizeBlockwise` accepts.
  public static let supportedDTypes: [DType] = [.float32, .float16, .bfloat16]

  /// Quantizes float32 values with one of bitsandbytes' rules.
  ///
  /// - Parameters:
  ///   - values: The values, at least one.
  ///   - code: The 256-entry map, sorted ascending.
  ///   - blocksize: Elements per block, positive.
  ///   - rule: Which bitsandbytes kernel to reproduce.
  /// - Returns: One code per value and one absmax per block.
  /// - Throws: `QuantError` for empty input, a non-positive blocksize or a map that is not 256 sorted values.
  public static func quantize(
    _ values: [Float], code: [Float], blocksize: Int, rule: Blockwise8Rule = .defaultBackend
  ) throws(QuantError) -> (
    codes: [UInt8], absmax: [Float]
  ) {
    guard !values.isEmpty else { throw .emptyTensor(context: "8-bit blockwise quantization") }
    guard blocksize > 0 else { throw .invalidArgument("blocksize must be positive, found \(blocksize)") }
    guard code.count == 256 else { throw .invalidArgument("an 8-bit map needs 256 entries, found \(code.count)") }
    guard zip(code, code.dropFirst()).allSatisfy({ $0 <= $1 }) else {
      throw .invalidArgument("the 8-bit map must be sorted ascending (bitsandbytes assumes it)")
    }
    if rule == .cpuLookupTable { return CPULookupTableQuantizer(code: code).quantize(values, blocksize: blocksize) }
    let quantizer = try BlockwiseCodebookQuantizer(code: code)
    var absmax = [Float](repeating: 0, count: BlockwiseCodebookQuantizer.blockCount(values.count, blocksize: blocksize))
    var codes = [UInt8](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { input in
      codes.withUnsafeMutableBufferPointer { output in
        absmax.withUnsafeMutableBufferPointer { scales in
          quantizer.quantize(input, blocksize: blocksize, indices: output, absmax: scales)
        }
      }
    }
    return (codes, absmax)
  }

  static func checkInput(_ tensor: Tensor, operation: String) throws(QuantError) {
    guard supportedDTypes.contains(tensor.dtype) else {
      throw .unsupportedDType(tensor.dtype, operation: operation, supported: supportedDTypes)
    }
    guard tensor.elementCount > 0 else { throw .emptyTensor(context: operation) }
  }
}
