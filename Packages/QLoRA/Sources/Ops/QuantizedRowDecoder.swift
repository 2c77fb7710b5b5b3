package import QuantCore

/// Decodes row ranges of any ``QuantizedTensor`` to float32, with the same values as QuantCore's reference
/// `dequantizedFloats()` but one tile at a time, so a frozen weight is never materialised whole.
package struct QuantizedRowDecoder: Sendable {
  /// Rows of the logical 2-D weight.
  package let rows: Int
  /// Columns of the logical 2-D weight.
  package let columns: Int
  private let layout: StorageLayout
  /// Block scales (4/8-bit codebooks) or row scales (int8), decoded once: 1/blocksize of the weight.
  private let scales: [Float]
  private let fp8Multiplier: (@Sendable (Int, Int) -> Float)?

  /// Prepares a decoder and checks the stored data against the state.
  ///
  /// - Parameters:
  ///   - tensor: A 2-D quantized weight.
  ///   - name: The tensor's name, for errors.
  /// - Throws: `QLoRAError.quantized` when the tensor is inconsistent.
  package init(_ tensor: QuantizedTensor, name: String) throws(QLoRAError) {
    guard tensor.shape.count == 2 else {
      throw .quantized(name: name, reason: "shape \(tensor.shape) is not [out_features, in_features]")
    }
    rows = tensor.shape[0]
    columns = tensor.shape[1]
    layout = tensor.layout
    var multiplier: (@Sendable (Int, Int) -> Float)? = nil
    do {
      switch tensor.layout {
      case .codebook4Bit(let packed, let state):
        try state.validate(codebookSize: 16)
        guard state.elementCount == rows * columns, packed.byteCount >= state.elementCount.dividedRoundingUp(by: 2) else {
          throw QuantError.invalidState("4-bit data holds \(packed.byteCount) bytes for \(rows)×\(columns)")
        }
        scales = state.absmax.decoded()
      case .codebook8Bit(let codes, let state):
        try state.validate(codebookSize: 256)
        guard state.elementCount == rows * columns, codes.byteCount >= rows * columns else {
          throw QuantError.invalidState("8-bit data holds \(codes.byteCount) bytes for \(rows)×\(columns)")
        }
        scales = state.absmax.decoded()
      case .int8Rowwise(let weights):
        guard weights.values.dtype == .int8, weights.values.elementCount == rows * columns,
          weights.rowScale.count == rows
        else { throw QuantError.invalidState("int8 values/SCB disagree with \(rows)×\(columns)") }
        scales = weights.rowScale
      case .float8(let weights):
        guard weights.values.dtype == weights.encoding.dtype, weights.values.elementCount == rows * columns else {
          throw QuantError.invalidState("fp8 values disagree with \(rows)×\(columns)")
        }
        multiplier = try weights.scales.multiplierLookup(rows: rows, columns: columns)
        scales = []
      case .custom(let custom):
        guard custom.rows == rows, custom.columns == columns else {
          throw QuantError.invalidState("custom layout is \(custom.rows)×\(custom.columns)")
        }
        scales = []
      }
    } catch {
      throw .quantized(name: name, reason: "\(error)")
    }
    fp8Multiplier = multiplier
  }

  /// Decodes rows `range` into `destination` (row-major, `range.count * columns` values).
  ///
  /// - Parameters:
  ///   - range: The rows.
  ///   - destination: Room for the rows.
  /// - Throws: `QLoRAError.quantized` when a custom layout fails.
  package func decodeRows(_ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>, name: String)
    throws(QLoRAError)
  {
    let first = range.lowerBound * columns
    let count = range.count * columns
    switch layout {
    case .codebook4Bit(let packed, let state):
      let blocksize = state.blocksize
      state.code.withUnsafeBufferPointer { code in
        scales.withUnsafeBufferPointer { scales in
          packed.withUnsafeBytes { bytes in
            // Block by block: one scale per run of elements, no division per element.
            var i = 0
            while i < count {
              let j = first &+ i
              let end = min(count, i &+ (blocksize &- j % blocksize))
              let scale = scales[j / blocksize]
              var element = j
              for index in i..<end {
                let byte = bytes[element >> 1]
                let nibble = element & 1 == 0 ? byte >> 4 : byte & 0x0F
                destination[index] = code[Int(nibble)] * scale
                element &+= 1
              }
              i = end
            }
          }
        }
      }
    case .codebook8Bit(let codes, let state):
      let blocksize = state.blocksize
      state.code.withUnsafeBufferPointer { code in
        scales.withUnsafeBufferPointer { scales in
          codes.withUnsafeBytes { bytes in
            var i = 0
            while i < count {
              let j = first &+ i
              let end = min(count, i &+ (blocksize &- j % blocksize))
              let scale = scales[j / blocksize]
              for index in i..<end { destination[index] = code[Int(bytes[first &+ index])] * scale }
              i = end
            }
          }
        }
      }
    case .int8Rowwise(let weights):
      weights.values.withUnsafeBytes { bytes in
        for row in range {
          let scale = scales[row]
          let source = row &* columns
          let target = (row &- range.lowerBound) &* columns
          for column in 0..<columns {
            // The reference's order: (value · SCB) / 127 as (value · SCB) · (1/127).
            destination[target &+ column] =
              Float(Int8(bitPattern: bytes[source &+ column])) * scale * Int8Constants.inverse127
          }
        }
      }
    case .float8(let weights):
      let multiplier = fp8Multiplier ?? { _, _ in 1 }
      weights.values.withUnsafeBytes { bytes in
        for i in 0..<count {
          let j = first &+ i
          destination[i] = weights.encoding.decode(bytes[j]) * multiplier(j / columns, j % columns)
        }
      }
    case .custom(let custom):
      do {
        try custom.dequantizeRows(range, into: UnsafeMutableBufferPointer(rebasing: destination[0..<count]))
      } catch {
        throw .quantized(name: name, reason: "\(error)")
      }
    }
  }
}
