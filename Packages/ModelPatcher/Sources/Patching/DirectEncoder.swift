import QuantCore

/// Encodes float32 chunks straight into the whole tensor's output buffers through the backend's encoder
/// (``KernelBackend/encode(_:)``): no per-chunk tensors, no conversion inside the format.
///
/// Used only where it is what the format itself does, and checked on the probe row: the format's own
/// result for that row must equal the direct encoding's, byte for byte.
enum DirectEncoder {
  /// Blockwise 4-bit codebook indices and plain absmax (double quantization is nested afterwards).
  case codebook4Bit(BlockwiseCodebookQuantizer, blocksize: Int)
  /// Blockwise 8-bit codebook indices and plain absmax (the `blockwise8` format's default rule).
  case codebook8Bit(BlockwiseCodebookQuantizer, blocksize: Int)
  /// LLM.int8 row-wise codes of float16 input with `weight_threshold` 0 (bitsandbytes' setting).
  case int8Rows

  /// The direct encoder for `plan`, or `nil` when there is none or it does not reproduce the probe.
  ///
  /// - Parameters:
  ///   - plan: The chunk plan.
  ///   - plainProbe: The format's result for the first row with the chunks' parameters.
  ///   - values: The first row in float32.
  ///   - sourceDType: The tensor's dtype.
  ///   - parameters: The job's parameters.
  ///   - backend: The backend that encodes.
  static func verified(
    plan: ChunkPlan, plainProbe: QuantizedTensor, values: UnsafeBufferPointer<Float>, sourceDType: DType,
    parameters: FormatParameters, backend: any KernelBackend
  ) -> DirectEncoder? {
    let encoder: DirectEncoder
    switch (plan, plainProbe.layout) {
    case (.codebook4Bit(let plan), .codebook4Bit(_, let state)):
      guard let quantizer = try? BlockwiseCodebookQuantizer(code: state.code) else { return nil }
      encoder = .codebook4Bit(quantizer, blocksize: plan.blocksize)
    case (.codebook8Bit(let blocksize, let codesDType), .codebook8Bit(_, let state)):
      // The `cpu` rule (bitsandbytes' lookup-table kernel) rounds differently; a probe row could still agree.
      let rule = parameters["rule"]
      guard codesDType == .uint8, state.code.count == 256, rule == nil || rule == .string("default"),
        let quantizer = try? BlockwiseCodebookQuantizer(code: state.code)
      else { return nil }
      encoder = .codebook8Bit(quantizer, blocksize: blocksize)
    case (.int8Rows, .int8Rowwise):
      // The format rounds other dtypes to float16 first and applies a non-zero weight threshold itself.
      let threshold = parameters["weight_threshold"]
      guard sourceDType == .float16, threshold == nil || threshold == .int(0) || threshold == .double(0) else { return nil }
      encoder = .int8Rows
    default: return nil
    }
    let count = values.count
    var probe = ChunkAssembler(plan: plan, shape: [1, count], dtype: sourceDType, format: plainProbe.format)
    guard probe.encode(values, at: 0..<count, with: encoder, backend: backend), probe.matches(plainProbe) else { return nil }
    return encoder
  }

  /// Encodes `values`, the tensor's elements `range`, into `data` (the whole tensor's codes) and `scales`
  /// (from `scaleOffset`).
  ///
  /// - Returns: Whether every output was written.
  func encode(
    _ values: UnsafeBufferPointer<Float>, at range: Range<Int>, columns: Int, data: UnsafeMutableRawBufferPointer,
    scales: UnsafeMutableBufferPointer<Float>, scaleOffset: Int, backend: any KernelBackend
  ) -> Bool {
    switch self {
    case .codebook4Bit(let quantizer, let blocksize):
      let start = range.lowerBound / 2
      let packed = UnsafeMutableRawBufferPointer(rebasing: data[start..<(start + (range.count + 1) / 2)])
      let blocks = BlockwiseCodebookQuantizer.blockCount(range.count, blocksize: blocksize)
      let absmax = UnsafeMutableBufferPointer(rebasing: scales[scaleOffset..<(scaleOffset + blocks)])
      if !backend.encode(
        .codebook4Bit(values: values, quantizer: quantizer, blocksize: blocksize, packed: packed, absmax: absmax))
      {
        quantizer.quantizePacked4Bit(values, blocksize: blocksize, packed: packed, absmax: absmax)
      }
      return true
    case .codebook8Bit(let quantizer, let blocksize):
      let codes = UnsafeMutableRawBufferPointer(rebasing: data[range]).bindMemory(to: UInt8.self)
      let blocks = BlockwiseCodebookQuantizer.blockCount(range.count, blocksize: blocksize)
      let absmax = UnsafeMutableBufferPointer(rebasing: scales[scaleOffset..<(scaleOffset + blocks)])
      if !backend.encode(.codebook8Bit(values: values, quantizer: quantizer, blocksize: blocksize, codes: codes, absmax: absmax))
      {
        quantizer.quantize(values, blocksize: blocksize, indices: codes, absmax: absmax)
      }
      return true
    case .int8Rows:
      let rows = range.count / columns
      let codes = UnsafeMutableRawBufferPointer(rebasing: data[range]).bindMemory(to: Int8.self)
      let rowScale = UnsafeMutableBufferPointer(rebasing: scales[scaleOffset..<(scaleOffset + rows)])
      return backend.encode(.int8Rowwise(values: values, rows: rows, columns: columns, codes: codes, rowScale: rowScale))
    }
  }
}
