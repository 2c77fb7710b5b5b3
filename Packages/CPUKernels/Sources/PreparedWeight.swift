import QuantCore
internal import _CPUKernelsNative

/// A quantized weight resolved to raw pointers for the C kernels, valid inside
/// ``PreparedWeight/with(_:isa:threads:_:)`` only.
///
/// This is the one place that knows how each ``StorageLayout`` maps onto a kernel family; the
/// drivers (dequantize, GEMV, GEMM) only ask it to decode element ranges or tiles, or to run a fused
/// GEMV over a range of rows.
struct PreparedWeight: @unchecked Sendable {
  enum Kind {
    // Pointers are optional only because empty buffers have none; the drivers never run kernels on
    // empty weights, and the C functions take them as they are.
    case codebook4(packed: UnsafePointer<UInt8>?, code: UnsafePointer<Float>?, scales: UnsafePointer<Float>?, blocksize: Int)
    case codebook8(codes: UnsafePointer<UInt8>?, code: UnsafePointer<Float>?, scales: UnsafePointer<Float>?, blocksize: Int)
    case int8(values: UnsafePointer<Int8>?, rowScale: UnsafePointer<Float>?)
    case float8(
      values: UnsafePointer<UInt8>?, e5m2: Bool, scales: UnsafePointer<Float>?, tileRows: Int, tileColumns: Int,
      gridColumns: Int)
    case custom(any CustomStorageLayout)
  }

  let kind: Kind
  /// Rows of the logical 2-D weight (output features).
  let rows: Int
  /// Columns of the logical 2-D weight (input features).
  let columns: Int
  let isa: Int32

  /// Whether activations must be in the permuted order of `ck_permute8` (the 4-bit kernels' order).
  var wantsPermutedActivations: Bool {
    if case .codebook4 = kind { true } else { false }
  }

  var isCustom: Bool {
    if case .custom = kind { true } else { false }
  }

  /// Decodes flat elements `elements` (row-major) to float32, exactly as the reference decode.
  func decode(_ elements: Range<Int>, into out: UnsafeMutablePointer<Float>) throws(QuantError) {
    let e0 = elements.lowerBound
    let count = elements.count
    switch kind {
    case .codebook4(let packed, let code, let scales, let blocksize):
      ck_cb4_decode(isa, packed, code, scales, blocksize, e0, count, 0, out)
    case .codebook8(let codes, let code, let scales, let blocksize):
      ck_cb8_decode(isa, codes, code, scales, blocksize, e0, count, out)
    case .int8(let values, let rowScale):
      ck_i8_decode(isa, values, rowScale, columns, e0, count, out)
    case .float8(let values, let e5m2, let scales, let tileRows, let tileColumns, let gridColumns):
      ck_f8_decode(isa, values, e5m2 ? 1 : 0, scales, tileRows, tileColumns, gridColumns, columns, e0, count, out)
    case .custom(let layout):
      // Custom layouts decode whole rows: decode the covering rows, then copy the requested part.
      let firstRow = e0 / columns
      let lastRow = (elements.upperBound + columns - 1) / columns
      let buffer = UnsafeMutablePointer<Float>.allocate(capacity: (lastRow - firstRow) * columns)
      defer { buffer.deallocate() }
      try layout.dequantizeRows(
        firstRow..<lastRow, into: UnsafeMutableBufferPointer(start: buffer, count: (lastRow - firstRow) * columns))
      out.update(from: buffer + (e0 - firstRow * columns), count: count)
    }
  }

  /// Decodes the tile `rows × columnRange` into `out` (row stride `ld`); with `permuted`, each row's full
  /// groups of 8 come in the order of `ck_permute8` (`columnRange.lowerBound` must be a multiple of 8).
  func decodeTile(
    rows rowRange: Range<Int>, columns columnRange: Range<Int>, permuted: Bool, into out: UnsafeMutablePointer<Float>,
    ld: Int
  ) throws(QuantError) {
    if case .custom(let layout) = kind, columnRange == 0..<columns, ld == columns {
      // Custom layouts decode full rows (a narrower range goes row by row through `decode`).
      try layout.dequantizeRows(rowRange, into: UnsafeMutableBufferPointer(start: out, count: rowRange.count * ld))
      return
    }
    for (i, row) in rowRange.enumerated() {
      let e0 = row * columns + columnRange.lowerBound
      let target = out + i * ld
      if permuted, case .codebook4(let packed, let code, let scales, let blocksize) = kind {
        ck_cb4_decode(isa, packed, code, scales, blocksize, e0, columnRange.count, 1, target)
      } else {
        try decode(e0..<(e0 + columnRange.count), into: target)
      }
    }
  }

  /// Fused GEMV over weight rows `rowRange`: `y[m * ldy + r] = Σ_k x[m * ldx + k] · w[r, k]`.
  /// Activations are permuted for 4-bit weights. Not for custom layouts.
  func gemv(
    rows rowRange: Range<Int>, x: UnsafePointer<Float>, ldx: Int, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let r0 = rowRange.lowerBound
    let r1 = rowRange.upperBound
    switch kind {
    case .codebook4(let packed, let code, let scales, let blocksize):
      ck_cb4_gemv(isa, packed, code, scales, blocksize, columns, r0, r1, x, ldx, m, y, ldy)
    case .codebook8(let codes, let code, let scales, let blocksize):
      ck_cb8_gemv(isa, codes, code, scales, blocksize, columns, r0, r1, x, ldx, m, y, ldy)
    case .int8(let values, let rowScale):
      ck_i8_gemv(isa, values, rowScale, columns, r0, r1, x, ldx, m, y, ldy)
    case .float8(let values, let e5m2, let scales, let tileRows, let tileColumns, let gridColumns):
      ck_f8_gemv(
        isa, values, e5m2 ? 1 : 0, scales, tileRows, tileColumns, gridColumns, columns, r0, r1, x, ldx, m, y, ldy)
    case .custom:
      break
    }
  }
}

// MARK: - Resolving layouts

extension PreparedWeight {
  /// Resolves `layout` (logical shape `shape`) to pointers and calls `body` while they are valid.
  ///
  /// Nested (double-quantized) absmax is decoded once here, in parallel, into a per-call buffer.
  static func with<R>(
    _ layout: StorageLayout, shape: [Int], isa: Int32, threads: Int, scratch: ScratchPool,
    decodedScales: [Float]? = nil, _ body: (PreparedWeight) throws(QuantError) -> R
  ) throws(QuantError) -> R {
    let columns = shape.last ?? 1
    let rows = columns == 0 ? 0 : shape.dropLast().reduce(1, *)
    switch layout {
    case .codebook4Bit(let packed, let state):
      try state.validate(codebookSize: 16)
      try checkCount(state.elementCount, rows * columns, "4-bit state shape")
      let needed = state.elementCount.dividedRoundingUp(by: 2)
      guard packed.byteCount >= needed else {
        throw .byteCountMismatch(context: "4-bit packed data", expected: needed, found: packed.byteCount)
      }
      return try withScales(state.absmax, decoded: decodedScales, threads: threads, scratch: scratch) {
        (scales) throws(QuantError) in
        try state.code.withUnsafeBufferPointer { (code) throws(QuantError) in
          try packed.withUnsafeBytes { (bytes) throws(QuantError) in
            let kind = Kind.codebook4(
              packed: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), code: code.baseAddress,
              scales: scales, blocksize: state.blocksize)
            return try body(PreparedWeight(kind: kind, rows: rows, columns: columns, isa: isa))
          }
        }
      }
    case .codebook8Bit(let codes, let state):
      try state.validate(codebookSize: 256)
      try checkCount(state.elementCount, rows * columns, "8-bit state shape")
      guard codes.byteCount >= state.elementCount else {
        throw .byteCountMismatch(context: "8-bit codes", expected: state.elementCount, found: codes.byteCount)
      }
      return try withScales(state.absmax, decoded: decodedScales, threads: threads, scratch: scratch) {
        (scales) throws(QuantError) in
        try state.code.withUnsafeBufferPointer { (code) throws(QuantError) in
          try codes.withUnsafeBytes { (bytes) throws(QuantError) in
            let kind = Kind.codebook8(
              codes: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), code: code.baseAddress,
              scales: scales, blocksize: state.blocksize)
            return try body(PreparedWeight(kind: kind, rows: rows, columns: columns, isa: isa))
          }
        }
      }
    case .int8Rowwise(let weights):
      guard weights.values.dtype == .int8 else {
        throw .unsupportedDType(weights.values.dtype, operation: "int8 row-wise weights", supported: [.int8])
      }
      try checkCount(weights.values.elementCount, rows * columns, "int8 weight shape")
      guard weights.rowScale.count == rows else {
        throw .invalidState("SCB has \(weights.rowScale.count) entries for \(rows) rows")
      }
      return try weights.rowScale.withUnsafeBufferPointer { (rowScale) throws(QuantError) in
        try weights.values.withUnsafeBytes { (bytes) throws(QuantError) in
          let kind = Kind.int8(
            values: bytes.baseAddress?.assumingMemoryBound(to: Int8.self), rowScale: rowScale.baseAddress)
          return try body(PreparedWeight(kind: kind, rows: rows, columns: columns, isa: isa))
        }
      }
    case .float8(let weights):
      guard weights.values.dtype == weights.encoding.dtype else {
        throw .unsupportedDType(weights.values.dtype, operation: "fp8 weights", supported: [weights.encoding.dtype])
      }
      try checkCount(weights.values.elementCount, rows * columns, "fp8 weight shape")
      _ = try weights.scales.multiplierLookup(rows: rows, columns: columns)  // validates the scale count
      let grid: (tileRows: Int, tileColumns: Int, values: [Float])
      switch weights.scales {
      case .tensor(let scale): grid = (max(rows, 1), max(columns, 1), [scale])
      case .rows(let values): grid = (1, max(columns, 1), values)
      case .tiles(let tileRows, let tileColumns, let values): grid = (tileRows, tileColumns, values)
      }
      let gridColumns = columns.dividedRoundingUp(by: grid.tileColumns)
      return try grid.values.withUnsafeBufferPointer { (scales) throws(QuantError) in
        try weights.values.withUnsafeBytes { (bytes) throws(QuantError) in
          let kind = Kind.float8(
            values: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), e5m2: weights.encoding == .e5m2,
            scales: scales.baseAddress, tileRows: grid.tileRows, tileColumns: grid.tileColumns,
            gridColumns: gridColumns)
          return try body(PreparedWeight(kind: kind, rows: rows, columns: columns, isa: isa))
        }
      }
    case .custom(let layout):
      guard layout.rows == rows, layout.columns == columns else {
        throw .shapeMismatch(context: "custom layout", expected: shape, found: [layout.rows, layout.columns])
      }
      return try body(PreparedWeight(kind: .custom(layout), rows: rows, columns: columns, isa: isa))
    }
  }

  private static func checkCount(_ found: Int, _ expected: Int, _ context: String) throws(QuantError) {
    guard found == expected else { throw .shapeMismatch(context: context, expected: [expected], found: [found]) }
  }

  /// Calls `body` with float32 block scales: the plain array, or nested scales decoded in parallel.
  private static func withScales<R>(
    _ absmax: BlockScales, decoded: [Float]?, threads: Int, scratch: ScratchPool,
    _ body: (UnsafePointer<Float>?) throws(QuantError) -> R
  ) throws(QuantError) -> R {
    if let decoded, decoded.count == absmax.count {
      return try decoded.withUnsafeBufferPointer { (buffer) throws(QuantError) in try body(buffer.baseAddress) }
    }
    switch absmax {
    case .plain(let values):
      return try values.withUnsafeBufferPointer { (buffer) throws(QuantError) in try body(buffer.baseAddress) }
    case .nested(let nested):
      try nested.validate()
      let count = nested.codes.count
      return try scratch.withBuffer(of: Float.self, count: max(count, 1)) { (decoded) throws(QuantError) in
        let target = SendablePointer(decoded)
        nested.codes.withUnsafeBufferPointer { codes in
          nested.absmax.withUnsafeBufferPointer { absmax2 in
            nested.code.withUnsafeBufferPointer { code2 in
              let sources = SendableNestedSources(
                codes: codes.baseAddress, absmax: absmax2.baseAddress, code: code2.baseAddress)
              ParallelChunks.run(count: count, threads: threads, alignment: 4096) { range in
                ck_decode_nested(
                  sources.codes, sources.absmax, sources.code, nested.blocksize, nested.offset, range.lowerBound,
                  range.count, target.pointer + range.lowerBound)
              }
            }
          }
        }
        return try body(UnsafePointer(decoded))
      }
    }
  }
}

/// A mutable pointer handed to parallel workers that write disjoint ranges.
struct SendablePointer<Element>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Element>
  init(_ pointer: UnsafeMutablePointer<Element>) { self.pointer = pointer }
}

private struct SendableNestedSources: @unchecked Sendable {
  let codes: UnsafePointer<UInt8>?
  let absmax: UnsafePointer<Float>?
  let code: UnsafePointer<Float>?
}
