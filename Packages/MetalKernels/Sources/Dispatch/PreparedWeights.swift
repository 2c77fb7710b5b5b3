package import QuantCore

/// The kernel families, one per accelerated storage layout (the middle part of kernel names).
package enum KernelLayoutFamily: String, Sendable, CaseIterable {
  /// 4-bit codebook with blockwise absmax (NF4, FP4, any 16-entry codebook).
  case codebook4 = "cb4"
  /// 8-bit codebook with blockwise absmax.
  case codebook8 = "cb8"
  /// int8 with one scale per row (LLM.int8).
  case int8Rowwise = "int8"
  /// fp8 E4M3FN/E5M2 with tensor, row or tile scales.
  case float8 = "fp8"

  /// The family of `layout`, or `nil` for layouts without kernels (custom layouts).
  ///
  /// - Parameter layout: A storage layout.
  package init?(_ layout: StorageLayout) {
    switch layout {
    case .codebook4Bit: self = .codebook4
    case .codebook8Bit: self = .codebook8
    case .int8Rowwise: self = .int8Rowwise
    case .float8: self = .float8
    case .custom: return nil
    }
  }
}

/// A quantized tensor laid out for the kernels: the buffers to bind and the layout half of the arguments.
///
/// Plain Swift shared by the Metal host and the emulator tests, so both run the same plan.
package struct PreparedWeights: Sendable {
  /// The kernel family.
  package var family: KernelLayoutFamily
  /// Arguments describing the weights (``KernelDispatchPlan`` adds tokens and bias).
  package var arguments: QuantKernelArguments
  /// The contents of the weight-side buffers, by index (weights, scales, codebook, nested state).
  package var buffers: [KernelBufferIndex: Tensor]

  /// Prepares a quantized tensor.
  ///
  /// - Parameter tensor: The quantized tensor; its logical shape's last dimension is the columns.
  /// - Throws: `QuantError.unsupportedOperation` for custom layouts, `invalidState`/`byteCountMismatch`
  ///   for inconsistent data, `invalidShape` beyond 2³² − 1 elements.
  package init(_ tensor: QuantizedTensor) throws(QuantError) {
    guard let family = KernelLayoutFamily(tensor.layout) else {
      throw .unsupportedOperation(backend: "metal", operation: "kernels for the custom layout '\(tensor.layout.kind)'")
    }
    let count = tensor.elementCount
    guard count < Int(UInt32.max) else {
      throw .invalidShape(tensor.shape, reason: "the Metal kernels index elements with 32-bit integers")
    }
    let columns = max(tensor.shape.last ?? 1, 1)
    let rows = count / columns
    var arguments = QuantKernelArguments()
    arguments.rows = UInt32(rows)
    arguments.columns = UInt32(columns)
    arguments.elementCount = UInt32(count)
    var buffers: [KernelBufferIndex: Tensor] = [:]
    var chunksFit = columns % 16 == 0

    switch tensor.layout {
    case .codebook4Bit(let packed, let state), .codebook8Bit(let packed, let state):
      let is4Bit = family == .codebook4
      try state.validate(codebookSize: is4Bit ? 16 : 256)
      guard state.elementCount == count else {
        throw .shapeMismatch(context: "quantization state", expected: tensor.shape, found: state.shape)
      }
      let needed = is4Bit ? count.dividedRoundingUp(by: 2) : count
      guard packed.byteCount >= needed else {
        throw .byteCountMismatch(context: "\(family.rawValue) weights", expected: needed, found: packed.byteCount)
      }
      arguments.blocksize = UInt32(state.blocksize)
      chunksFit = chunksFit && state.blocksize % 16 == 0
      buffers[.weights] = packed
      buffers[.codebook] = try Tensor(state.code)
      switch state.absmax {
      case .plain(let values):
        buffers[.scales] = try Tensor(values)
      case .nested(let nested):
        arguments.nested = 1
        arguments.nestedBlocksize = UInt32(nested.blocksize)
        arguments.nestedOffset = nested.offset
        buffers[.scales] = try Tensor(nested.codes)
        buffers[.nestedAbsmax] = try Tensor(nested.absmax)
        buffers[.nestedCodebook] = try Tensor(nested.code)
      }
    case .int8Rowwise(let weights):
      guard weights.values.dtype == .int8, weights.values.elementCount == count else {
        throw .unsupportedDType(weights.values.dtype, operation: "int8 row-wise weights", supported: [.int8])
      }
      guard weights.rowScale.count == rows else {
        throw .invalidState("SCB has \(weights.rowScale.count) entries for \(rows) rows")
      }
      buffers[.weights] = weights.values
      buffers[.scales] = try Tensor(weights.rowScale)
    case .float8(let weights):
      guard weights.values.dtype == weights.encoding.dtype, weights.values.elementCount == count else {
        throw .unsupportedDType(weights.values.dtype, operation: "fp8 weights", supported: [weights.encoding.dtype])
      }
      _ = try weights.scales.multiplierLookup(rows: rows, columns: columns)
      arguments.fp8Format = weights.encoding == .e4m3 ? 0 : 1
      let values: [Float]
      switch weights.scales {
      case .tensor(let scale):
        (arguments.scaleRows, arguments.scaleColumns, values) = (UInt32(max(rows, 1)), UInt32(columns), [scale])
      case .rows(let scales):
        (arguments.scaleRows, arguments.scaleColumns, values) = (1, UInt32(columns), scales)
      case .tiles(let tileRows, let tileColumns, let scales):
        (arguments.scaleRows, arguments.scaleColumns, values) = (UInt32(tileRows), UInt32(tileColumns), scales)
        chunksFit = chunksFit && tileColumns % 16 == 0
      }
      arguments.scaleGridColumns = (UInt32(columns) + arguments.scaleColumns - 1) / arguments.scaleColumns
      buffers[.weights] = weights.values
      buffers[.scales] = try Tensor(values)
    case .custom:
      throw .unsupportedOperation(backend: "metal", operation: "kernels for custom layouts")
    }
    arguments.vectorized = chunksFit ? 1 : 0
    self.family = family
    self.arguments = arguments
    self.buffers = buffers
  }

  /// Weight rows (N).
  package var rows: Int { Int(arguments.rows) }
  /// Weight columns (K).
  package var columns: Int { Int(arguments.columns) }
}
