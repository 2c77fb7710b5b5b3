import DoubleQuant
import QuantCore

/// Copies each chunk's quantized storage into the whole tensor's buffers, then builds the tensor the
/// format would have made from the whole input.
struct ChunkAssembler {
  let plan: ChunkPlan
  let shape: [Int]
  let dtype: DType
  let format: String
  private let count: Int
  private let columns: Int
  /// The codes (packed 4-bit, 8-bit codes, int8 or fp8 values) of the whole tensor.
  private let data: OwnedBytes
  /// Block absmax, row scales or tile multipliers of the whole tensor, in order.
  private var scales: [Float]
  private var code: [Float] = []
  private var quantType = ""
  private var name = ""
  /// fp8 with one scale: the scale every chunk reported.
  private var tensorScale: Float?
  /// LLM.int8: the outlier columns every chunk reported (chunks quantized with the column extremes).
  private var outlierColumns: [Int]?
  /// Custom layouts: each chunk's layout, in order.
  private var customParts: [any CustomStorageLayout] = []

  init(plan: ChunkPlan, shape: [Int], dtype: DType, format: String) {
    self.plan = plan
    self.shape = shape
    self.dtype = dtype
    self.format = format
    let count = shape.reduce(1, *)
    let columns = max(shape.last ?? 1, 1)
    let rows = count / columns
    self.count = count
    self.columns = columns
    let scaleCount: Int
    switch plan {
    case .whole, .float8TensorScale, .customRows: scaleCount = 0
    case .codebook4Bit(let plan): scaleCount = BlockwiseCodebookQuantizer.blockCount(count, blocksize: plan.blocksize)
    case .codebook8Bit(let blocksize, _): scaleCount = BlockwiseCodebookQuantizer.blockCount(count, blocksize: blocksize)
    case .int8Rows: scaleCount = rows
    case .float8(_, let tileRows, let tileColumns):
      if let tileColumns {
        scaleCount = (rows + tileRows - 1) / tileRows * ((columns + tileColumns - 1) / tileColumns)
      } else {
        scaleCount = rows
      }
    }
    scales = [Float](repeating: 0, count: scaleCount)
    switch plan {
    case .codebook4Bit: data = OwnedBytes(byteCount: (count + 1) / 2)
    case .whole, .customRows: data = OwnedBytes(byteCount: 0)
    default: data = OwnedBytes(byteCount: count)
    }
  }

  /// Where the scales of the chunk starting at element `start` begin.
  private func scaleOffset(_ start: Int) -> Int {
    switch plan {
    case .whole, .float8TensorScale, .customRows: 0
    case .codebook4Bit(let plan): start / plan.blocksize
    case .codebook8Bit(let blocksize, _): start / blocksize
    case .int8Rows: start / columns
    case .float8(_, let tileRows, let tileColumns):
      tileColumns.map { start / columns / tileRows * ((columns + $0 - 1) / $0) } ?? start / columns
    }
  }

  private mutating func place(_ values: [Float], at start: Int) -> Bool {
    let offset = scaleOffset(start)
    guard offset + values.count <= scales.count else { return false }
    scales.replaceSubrange(offset..<(offset + values.count), with: values)
    return true
  }

  /// Encodes the chunk of elements `range` from its float32 `values` straight into the output buffers.
  ///
  /// - Returns: `false` when the encoder could not (the caller then quantizes the whole tensor).
  mutating func encode(
    _ values: UnsafeBufferPointer<Float>, at range: Range<Int>, with encoder: DirectEncoder, backend: any KernelBackend
  ) -> Bool {
    let data = self.data
    let offset = scaleOffset(range.lowerBound)
    return scales.withUnsafeMutableBufferPointer { scales in
      encoder.encode(
        values, at: range, columns: columns, data: data.memory, scales: scales, scaleOffset: offset, backend: backend)
    }
  }

  /// Forgets what the chunks so far agreed on (a tensor scale, outlier columns, custom parts) before they are
  /// quantized again; the codes and scales they wrote are overwritten by the next pass.
  mutating func forgetTensorWideState() {
    tensorScale = nil
    outlierColumns = nil
    customParts = []
  }

  /// Records the format's codebook and names, which the directly encoded chunks do not carry.
  mutating func adopt(_ probe: QuantizedTensor) {
    name = probe.format
    switch probe.layout {
    case .codebook4Bit(_, let state), .codebook8Bit(_, let state): (code, quantType) = (state.code, state.quantType)
    default: break
    }
  }

  /// Adds the chunk of elements `range`; returns `false` when the chunk's storage is not what the plan
  /// expects (the caller then quantizes the whole tensor).
  ///
  /// - Parameters:
  ///   - chunk: The chunk's quantized form; with `extended`, of one more row than `range` holds (the
  ///     column extremes), whose codes and scale are dropped.
  ///   - range: The chunk's elements.
  ///   - extended: Whether the chunk was quantized with the column extremes appended.
  mutating func append(_ chunk: QuantizedTensor, at range: Range<Int>, extended: Bool = false) -> Bool {
    name = chunk.format
    let extra = extended ? columns : 0
    switch (plan, chunk.layout) {
    case (.int8Rows, .int8Rowwise(let weights)) where extended:
      guard weights.values.byteCount == range.count + extra, weights.rowScale.count == range.count / columns + 1,
        outlierColumns == nil || outlierColumns == weights.outlierColumns
      else { return false }
      outlierColumns = weights.outlierColumns
      copy(weights.values, to: range.lowerBound, count: range.count)
      return place(Array(weights.rowScale.dropLast()), at: range.lowerBound)
    case (.float8TensorScale(let encoding), .float8(let weights)):
      guard extended, weights.encoding == encoding, weights.values.byteCount == range.count + extra,
        case .tensor(let scale) = weights.scales, tensorScale == nil || tensorScale?.bitPattern == scale.bitPattern
      else { return false }
      tensorScale = scale
      copy(weights.values, to: range.lowerBound, count: range.count)
      return true
    case (.customRows, .custom(let layout)):
      guard !extended, layout.columns == columns, layout.rows == range.count / columns,
        customParts.isEmpty || type(of: customParts[0]) == type(of: layout)
      else { return false }
      customParts.append(layout)
      return true
    case (.codebook4Bit(let expected), .codebook4Bit(let packed, let state)):
      guard state.blocksize == expected.blocksize, packed.dtype == expected.storage, case .plain(let absmax) = state.absmax,
        range.lowerBound % 2 == 0, packed.byteCount == (range.count + 1) / 2
      else { return false }
      copy(packed, to: range.lowerBound / 2)
      (code, quantType) = (state.code, state.quantType)
      return place(absmax, at: range.lowerBound)
    case (.codebook8Bit(let blocksize, let codesDType), .codebook8Bit(let codes, let state)):
      guard state.blocksize == blocksize, codes.dtype == codesDType, case .plain(let absmax) = state.absmax,
        codes.byteCount == range.count
      else { return false }
      copy(codes, to: range.lowerBound)
      (code, quantType) = (state.code, state.quantType)
      return place(absmax, at: range.lowerBound)
    case (.int8Rows, .int8Rowwise(let weights)):
      guard weights.outlierColumns.isEmpty, weights.values.byteCount == range.count,
        weights.rowScale.count == range.count / columns
      else { return false }
      copy(weights.values, to: range.lowerBound)
      return place(weights.rowScale, at: range.lowerBound)
    case (.float8(let encoding, let tileRows, let tileColumns), .float8(let weights)):
      guard weights.encoding == encoding, weights.values.byteCount == range.count else { return false }
      copy(weights.values, to: range.lowerBound)
      switch weights.scales {
      case .rows(let values) where tileColumns == nil: return place(values, at: range.lowerBound)
      case .tiles(let rows, let found, let values) where rows == tileRows && found == tileColumns:
        return place(values, at: range.lowerBound)
      default: return false
      }
    default: return false
    }
  }

  /// Whether the codes and scales assembled so far are exactly `tensor`'s (a plain, unnested layout).
  func matches(_ tensor: QuantizedTensor) -> Bool {
    let (codes, expectedScales): (Tensor, [Float])
    switch tensor.layout {
    case .codebook4Bit(let packed, let state):
      guard case .plain(let absmax) = state.absmax else { return false }
      (codes, expectedScales) = (packed, absmax)
    case .codebook8Bit(let indices, let state):
      guard case .plain(let absmax) = state.absmax else { return false }
      (codes, expectedScales) = (indices, absmax)
    case .int8Rowwise(let weights): (codes, expectedScales) = (weights.values, weights.rowScale)
    default: return false
    }
    let sameCodes = codes.withUnsafeBytes { bytes in
      bytes.count == data.memory.count && bytes.elementsEqual(UnsafeRawBufferPointer(data.memory))
    }
    return sameCodes && expectedScales.map(\.bitPattern) == scales.map(\.bitPattern)
  }

  /// Copies the first `count` bytes of `tensor` (all of them when `nil`) to `offset` of the codes.
  private func copy(_ tensor: Tensor, to offset: Int, count: Int? = nil) {
    tensor.withUnsafeBytes { bytes in
      let source = UnsafeRawBufferPointer(rebasing: bytes[0..<(count ?? bytes.count)])
      UnsafeMutableRawBufferPointer(rebasing: data.memory[offset..<(offset + source.count)]).copyMemory(from: source)
    }
  }

  /// The whole tensor's quantized form.
  ///
  /// - Throws: `QuantError` when double quantization fails.
  func finish() throws(QuantError) -> QuantizedTensor {
    let storage = data.storage()
    let layout: StorageLayout
    switch plan {
    case .whole: throw .invalidState("a tensor quantized whole has no chunks to assemble")
    case .codebook4Bit(let plan):
      let packed = try Tensor(
        dtype: plan.storage, shape: [(count + 1) / 2 / plan.storage.byteSize, 1], storage: storage)
      let absmax: BlockScales =
        if let nesting = plan.nesting {
          .nested(try DoubleQuant.doubleQuant(absmax: scales, blocksize: nesting.blocksize, rule: nesting.rule))
        } else {
          .plain(scales)
        }
      layout = .codebook4Bit(
        packed: packed,
        state: QuantState(absmax: absmax, shape: shape, code: code, dtype: dtype, blocksize: plan.blocksize, quantType: quantType)
      )
    case .codebook8Bit(let blocksize, let codesDType):
      layout = .codebook8Bit(
        codes: try Tensor(dtype: codesDType, shape: shape, storage: storage),
        state: QuantState(
          absmax: .plain(scales), shape: shape, code: code, dtype: dtype, blocksize: blocksize, quantType: quantType))
    case .int8Rows:
      layout = .int8Rowwise(
        Int8RowwiseWeights(
          values: try Tensor(dtype: .int8, shape: shape, storage: storage), rowScale: scales,
          outlierColumns: outlierColumns ?? []))
    case .float8TensorScale(let encoding):
      guard let tensorScale else { throw .invalidState("no fp8 chunk was assembled") }
      let values = try Tensor(dtype: encoding.dtype, shape: shape, storage: storage)
      layout = .float8(Float8Weights(values: values, encoding: encoding, scales: .tensor(tensorScale)))
    case .customRows:
      guard let first = customParts.first as? any RowChunkedStorageLayout else {
        throw .invalidState("no custom chunk was assembled")
      }
      let joined = try first.joined(with: Array(customParts.dropFirst()))
      guard joined.rows * joined.columns == count, joined.columns == columns else {
        throw .invalidState(
          "\(joined.kind) joined \(customParts.count) chunks into [\(joined.rows), \(joined.columns)], expected \(count / columns) rows of \(columns)"
        )
      }
      layout = .custom(joined)
    case .float8(let encoding, let tileRows, let tileColumns):
      let values = try Tensor(dtype: encoding.dtype, shape: shape, storage: storage)
      let scales: Float8Scales =
        if let tileColumns { .tiles(tileRows: tileRows, tileColumns: tileColumns, values: self.scales) } else {
          .rows(self.scales)
        }
      layout = .float8(Float8Weights(values: values, encoding: encoding, scales: scales))
    }
    return QuantizedTensor(format: name.isEmpty ? format : name, shape: shape, originalDType: dtype, layout: layout)
  }
}

/// Zeroed heap bytes handed over to a ``TensorStorage`` once filled.
final class OwnedBytes: @unchecked Sendable {
  let memory: UnsafeMutableRawBufferPointer
  private var handedOver = false

  init(byteCount: Int) {
    memory = .allocate(byteCount: max(byteCount, 1), alignment: 64)
    memory.initializeMemory(as: UInt8.self, repeating: 0)
  }

  /// Storage that owns the bytes from now on.
  func storage() -> TensorStorage {
    handedOver = true
    nonisolated(unsafe) let owned = memory
    return TensorStorage(
      borrowing: UnsafeRawBufferPointer(rebasing: memory[0..<memory.count]), release: { owned.deallocate() })
  }

  deinit { if !handedOver { memory.deallocate() } }
}
