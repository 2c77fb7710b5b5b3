/// The reference (scalar, obviously correct) decoding of every storage layout.
///
/// These definitions are the numeric contract: backends must produce the same float32 values.
extension StorageLayout {
  /// The logical 2-D view `(rows, columns)` of `shape`: the last dimension is the columns.
  static func matrixDimensions(_ shape: [Int]) -> (rows: Int, columns: Int) {
    guard let columns = shape.last else { return (1, 1) }
    return (shape.dropLast().reduce(1, *), columns)
  }

  /// Decodes every element to float32, in row-major order of the logical shape.
  ///
  /// - Returns: `elementCount` values.
  /// - Throws: `QuantError` when the stored data and state disagree.
  public func dequantizedFloats() throws(QuantError) -> [Float] {
    switch self {
    case .codebook4Bit(let packed, let state):
      try state.validate(codebookSize: 16)
      let count = state.elementCount
      guard packed.byteCount >= count.dividedRoundingUp(by: 2) else {
        throw .byteCountMismatch(context: "4-bit packed data", expected: count.dividedRoundingUp(by: 2), found: packed.byteCount)
      }
      let scales = state.absmax.decoded()
      return packed.withUnsafeBytes { bytes in
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
          for j in 0..<count {
            let byte = bytes[j >> 1]
            let nibble = j & 1 == 0 ? byte >> 4 : byte & 0x0F
            out[j] = state.code[Int(nibble)] * scales[j / state.blocksize]
          }
          initialized = count
        }
      }
    case .codebook8Bit(let codes, let state):
      try state.validate(codebookSize: 256)
      let count = state.elementCount
      guard codes.byteCount >= count else {
        throw .byteCountMismatch(context: "8-bit codes", expected: count, found: codes.byteCount)
      }
      let scales = state.absmax.decoded()
      return codes.withUnsafeBytes { bytes in
        (0..<count).map { j in state.code[Int(bytes[j])] * scales[j / state.blocksize] }
      }
    case .int8Rowwise(let weights):
      let (rows, columns) = StorageLayout.matrixDimensions(weights.values.shape)
      guard weights.values.dtype == .int8 else {
        throw .unsupportedDType(weights.values.dtype, operation: "int8 row-wise weights", supported: [.int8])
      }
      guard weights.rowScale.count == rows else {
        throw .invalidState("SCB has \(weights.rowScale.count) entries for \(rows) rows")
      }
      return weights.values.withUnsafeBytes { bytes in
        (0..<(rows * columns)).map { j in
          // bitsandbytes: A * stats * 7.874015718698502e-3, evaluated left to right in float32.
          Float(Int8(bitPattern: bytes[j])) * weights.rowScale[j / columns] * Int8Constants.inverse127
        }
      }
    case .float8(let weights):
      let (rows, columns) = StorageLayout.matrixDimensions(weights.values.shape)
      guard weights.values.dtype == weights.encoding.dtype else {
        throw .unsupportedDType(weights.values.dtype, operation: "fp8 weights", supported: [weights.encoding.dtype])
      }
      let scaleOf = try weights.scales.multiplierLookup(rows: rows, columns: columns)
      return weights.values.withUnsafeBytes { bytes in
        (0..<(rows * columns)).map { j in
          weights.encoding.decode(bytes[j]) * scaleOf(j / columns, j % columns)
        }
      }
    case .custom(let layout):
      let count = layout.rows * layout.columns
      var result = [Float](repeating: 0, count: count)
      try result.withUnsafeMutableBufferPointer { (buffer) throws(QuantError) in
        try layout.dequantizeRows(0..<layout.rows, into: buffer)
      }
      return result
    }
  }

  /// Bytes of stored data and state (what a checkpoint holds for this tensor, JSON excluded).
  public var storageByteCount: Int {
    switch self {
    case .codebook4Bit(let packed, let state), .codebook8Bit(let packed, let state):
      packed.byteCount + state.code.count * 4 + state.absmax.storageByteCount
    case .int8Rowwise(let weights):
      weights.values.byteCount + weights.rowScale.count * 4
    case .float8(let weights):
      weights.values.byteCount + weights.scales.count * 4
    case .custom(let layout):
      layout.storageByteCount
    }
  }
}

extension BlockScales {
  /// Bytes the scales occupy on disk, nested map and offset included.
  public var storageByteCount: Int {
    switch self {
    case .plain(let values): values.count * 4
    case .nested(let nested): nested.codes.count + nested.absmax.count * 4 + nested.code.count * 4 + 4
    }
  }
}

extension Float8Scales {
  /// The number of stored multipliers.
  public var count: Int {
    switch self {
    case .tensor: 1
    case .rows(let values): values.count
    case .tiles(_, _, let values): values.count
    }
  }

  /// Returns a function mapping `(row, column)` to its multiplier, after checking the scale count.
  ///
  /// - Parameters:
  ///   - rows: Rows of the weight.
  ///   - columns: Columns of the weight.
  /// - Throws: `QuantError.invalidState` when the number of scales does not fit the shape.
  public func multiplierLookup(rows: Int, columns: Int) throws(QuantError) -> @Sendable (Int, Int) -> Float {
    switch self {
    case .tensor(let scale):
      return { _, _ in scale }
    case .rows(let values):
      guard values.count == rows else { throw .invalidState("\(values.count) row scales for \(rows) rows") }
      return { row, _ in values[row] }
    case .tiles(let tileRows, let tileColumns, let values):
      guard tileRows > 0, tileColumns > 0 else { throw .invalidState("tile size must be positive") }
      let gridColumns = columns.dividedRoundingUp(by: tileColumns)
      let gridRows = rows.dividedRoundingUp(by: tileRows)
      guard values.count == gridRows * gridColumns else {
        throw .invalidState("\(values.count) tile scales for a \(gridRows)×\(gridColumns) tile grid")
      }
      return { row, column in values[(row / tileRows) * gridColumns + column / tileColumns] }
    }
  }
}

/// Constants of LLM.int8 arithmetic shared by every implementation.
public enum Int8Constants {
  /// float32 of 1/127 as bitsandbytes writes it (`7.874015718698502e-3`).
  public static let inverse127: Float = 7.874015718698502e-3
}
