import DoubleQuant
import QuantCore

/// Quantizes one tensor a chunk at a time, so that memory is bounded by the chunk (plus the quantized
/// result), not by the tensor: no float32 copy of the whole tensor is ever made.
///
/// Each chunk is read into one reused buffer, scanned for NaN/infinity, widened to float32, and either
/// encoded by the backend straight into the whole tensor's output buffers (``DirectEncoder``: NF4/FP4,
/// float16 LLM.int8) or quantized by the format (``QuantizationFormat/quantize(_:parameters:backend:)``)
/// with its storage copied into place (``ChunkAssembler``). ``ChunkPlan`` says where cuts may fall; the
/// bytes are identical to quantizing the whole tensor (tested for every built-in format and parameter set
/// with chunks of a few elements).
struct ChunkedQuantizer {
  /// Elements per chunk at most (rounded down to the plan's quantum, at least one quantum); 0 quantizes
  /// every tensor whole.
  var chunkElements: Int

  /// The default: 1 Mi elements (2 MiB of float16 input, 4 MiB of float32 while encoding).
  static let defaultChunkElements = 1 << 20

  /// What a job needs besides the source.
  struct Job {
    /// The format, its parameters and the backend that encodes.
    var format: any QuantizationFormat
    var parameters: FormatParameters
    var backend: any KernelBackend
    /// Whether NaN or infinite values stop the job (before anything of the tensor is written).
    var refuseNonFinite: Bool
    /// The file and tensor, for messages.
    var fileName: String
    var tensorName: String
  }

  /// The quantized tensor and the number of NaN or infinite values met.
  struct Result {
    var tensor: QuantizedTensor
    var nonFinite: Int
    /// The chunks quantized (1 when the tensor was quantized whole).
    var chunks = 1
    /// Whether the chunks were encoded straight into the output (``DirectEncoder``).
    var direct = false
  }

  /// Quantizes `source` as `job` says.
  ///
  /// - Throws: `ModelPatcherError.nonFiniteWeights` (refusing), `.tensor` for the format's errors, or the
  ///   source's read errors.
  func quantize(_ source: some TensorChunkSource, job: Job) throws(ModelPatcherError) -> Result {
    let shape = source.shape
    let count = shape.reduce(1, *)
    let columns = max(shape.last ?? 1, 1)
    let rows = count / columns
    // The probe is one row: a tensor of one row, of rows wider than the largest default chunk, or of another
    // dtype than float32, float16 or bfloat16, runs whole.
    guard chunkElements > 0, shape.count >= 2, rows > 1,
      [DType.float32, .float16, .bfloat16].contains(source.dtype),
      columns <= max(chunkElements, Self.defaultChunkElements)
    else {
      return try whole(source, job: job)
    }
    let probeBuffer = ChunkBuffer(byteCount: columns * source.dtype.byteSize, widening: columns)
    let probeRaw = try read(source, elements: 0..<columns, into: probeBuffer)
    let probe = try tensor(probeRaw, dtype: source.dtype, shape: [1, columns], job: job)
    // A probe the format rejects (bad parameters, a NaN it refuses) leaves the error to the whole tensor,
    // after its NaN scan, as before.
    guard let probeResult = try? quantizeChunk(probe, job.parameters, job: job) else { return try whole(source, job: job) }
    var plainProbe = probeResult
    let plan = ChunkPlan.learn(
      from: probeResult, parameters: job.parameters, format: job.format,
      quantizeAgain: { (parameters) throws(QuantError) in
        plainProbe = try job.format.quantize(probe, parameters: parameters, backend: job.backend)
        return plainProbe
      })
    if case .whole = plan { return try whole(source, job: job) }
    let probeValues = floats(probeRaw, dtype: source.dtype, nonFinite: 1, buffer: probeBuffer)
    let direct = DirectEncoder.verified(
      plan: plan, plainProbe: plainProbe, values: probeValues, sourceDType: source.dtype, parameters: job.parameters,
      backend: job.backend)
    // Cuts at multiples of the plan's quantum; a tensor no larger than a chunk is one chunk.
    let step: Int
    let isRows: Bool
    switch plan.unit {
    case .elements(let quantum):
      isRows = false
      step = max(quantum, chunkElements / quantum * quantum)
    case .rows(let quantum):
      isRows = true
      step = max(quantum, chunkElements / columns / quantum * quantum) * columns
    }
    let ranges =
      count <= chunkElements ? [0..<count] : stride(from: 0, to: count, by: step).map { $0..<min($0 + step, count) }
    let largest = ranges.map(\.count).max() ?? 0
    let isHalf = source.dtype == .float16 || source.dtype == .bfloat16
    // Room for one more row: the column extremes some plans append to every chunk.
    let room = largest + (isRows ? columns : 0)
    let buffer = ChunkBuffer(byteCount: room * source.dtype.byteSize, widening: isHalf ? room : 0)
    let parameters = plan.chunkParameters(job.parameters)
    // int8 rounds its input to float16 itself, and a custom layout may keep the input's dtype (MLX's affine
    // scales): they get the chunk as stored; the built-in float formats get float32.
    let passStored: Bool
    switch plan {
    case .int8Rows, .customRows: passStored = true
    default: passStored = false
    }
    var extremes = plan.needsColumnExtremes ? try columnExtremes(source, ranges: ranges, columns: columns, buffer: buffer) : nil
    var assembler = ChunkAssembler(plan: plan, shape: shape, dtype: source.dtype, format: job.format.name)
    assembler.adopt(probeResult)
    var nonFinite = 0
    chunks: while true {
      nonFinite = 0
      for (index, range) in ranges.enumerated() {
        // A cancelled job (Ctrl-C) stops between chunks, not only between tensors.
        if Task.isCancelled { throw .cancelled }
        let raw = try read(source, elements: range, into: buffer)
        let found = NonFiniteScan.count(in: raw, dtype: source.dtype)
        nonFinite += found
        if nonFinite > 0 && job.refuseNonFinite {
          // The message gives the whole tensor's count: the rest is scanned, not quantized.
          for rest in ranges[(index + 1)...] {
            nonFinite += NonFiniteScan.count(in: try read(source, elements: rest, into: buffer), dtype: source.dtype)
          }
          throw .nonFiniteWeights(file: job.fileName, tensor: job.tensorName, count: nonFinite)
        }
        let accepted: Bool
        if let direct {
          let values = floats(raw, dtype: source.dtype, nonFinite: found, buffer: buffer)
          accepted = assembler.encode(values, at: range, with: direct, backend: job.backend)
        } else {
          var input = raw
          var chunkShape = isRows ? [range.count / columns, columns] : [range.count]
          if let extremes {
            let end = raw.count + extremes.count
            extremes.withUnsafeBytes {
              UnsafeMutableRawBufferPointer(rebasing: buffer.memory[raw.count..<end]).copyMemory(from: $0)
            }
            input = UnsafeRawBufferPointer(rebasing: buffer.memory[0..<end])
            chunkShape[0] += 1
          }
          let chunkTensor =
            passStored
            ? try tensor(input, dtype: source.dtype, shape: chunkShape, job: job)
            : try tensor(
              UnsafeRawBufferPointer(floats(input, dtype: source.dtype, nonFinite: found, buffer: buffer)), dtype: .float32,
              shape: chunkShape, job: job)
          let chunk = try quantizeChunk(chunkTensor, parameters, job: job)
          if extremes == nil && plan.needsColumnExtremes(after: chunk) {
            // Outlier columns depend on the whole tensor: quantize every chunk again with its extremes.
            extremes = try columnExtremes(source, ranges: ranges, columns: columns, buffer: buffer)
            // Every chunk rewrites its codes and scales: the buffers are kept, not allocated twice.
            assembler.forgetTensorWideState()
            continue chunks
          }
          accepted = assembler.append(chunk, at: range, extended: extremes != nil)
        }
        guard accepted else { return try whole(source, job: job) }
      }
      break
    }
    do {
      return Result(tensor: try assembler.finish(), nonFinite: nonFinite, chunks: ranges.count, direct: direct != nil)
    } catch {
      throw .tensor(file: job.fileName, tensor: job.tensorName, format: job.format.name, error: error)
    }
  }

  /// The tensor's column extremes as stored: for every column the value of largest magnitude (the first
  /// one met; NaN never wins), one row of the source's dtype.
  private func columnExtremes(
    _ source: some TensorChunkSource, ranges: [Range<Int>], columns: Int, buffer: ChunkBuffer
  ) throws(ModelPatcherError) -> [UInt8] {
    let width = source.dtype.byteSize
    var row = [UInt8](repeating: 0, count: columns * width)
    var largest = [Float](repeating: -1, count: columns)
    for range in ranges {
      if Task.isCancelled { throw .cancelled }
      let raw = try read(source, elements: range, into: buffer)
      let values = floats(raw, dtype: source.dtype, nonFinite: NonFiniteScan.count(in: raw, dtype: source.dtype), buffer: buffer)
      row.withUnsafeMutableBytes { target in
        largest.withUnsafeMutableBufferPointer { largest in
          for rowStart in stride(from: 0, to: values.count, by: columns) {
            for column in 0..<columns where abs(values[rowStart &+ column]) > largest[column] {
              largest[column] = abs(values[rowStart &+ column])
              let from = (rowStart &+ column) &* width
              for byte in 0..<width { target[column &* width &+ byte] = raw[from &+ byte] }
            }
          }
        }
      }
    }
    return row
  }

  private func quantizeChunk(_ tensor: Tensor, _ parameters: FormatParameters, job: Job) throws(ModelPatcherError)
    -> QuantizedTensor
  {
    do {
      return try job.format.quantize(tensor, parameters: parameters, backend: job.backend)
    } catch {
      throw .tensor(file: job.fileName, tensor: job.tensorName, format: job.format.name, error: error)
    }
  }

  /// Reads `elements` into `buffer`; the bytes stay valid until the next read.
  private func read(_ source: some TensorChunkSource, elements: Range<Int>, into buffer: ChunkBuffer)
    throws(ModelPatcherError) -> UnsafeRawBufferPointer
  {
    let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer.memory[0..<(elements.count * source.dtype.byteSize)])
    try source.read(elements: elements, into: bytes)
    return UnsafeRawBufferPointer(bytes)
  }

  /// The chunk as float32: float32 input as read, half precision widened into `buffer` (exactly; chunks
  /// with NaN or infinities keep their NaN payloads bit for bit).
  private func floats(_ raw: UnsafeRawBufferPointer, dtype: DType, nonFinite: Int, buffer: ChunkBuffer)
    -> UnsafeBufferPointer<Float>
  {
    let count = raw.count / dtype.byteSize
    guard dtype == .float16 || dtype == .bfloat16, let floats = buffer.floats else {
      return UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: Float.self), count: count)
    }
    let destination = UnsafeMutableBufferPointer(rebasing: floats[0..<count])
    HalfWidening.widen(raw, bfloat16: dtype == .bfloat16, exact: nonFinite > 0, into: destination)
    return UnsafeBufferPointer(destination)
  }

  /// A tensor over `bytes` (valid while they are).
  private func tensor(_ bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int], job: Job) throws(ModelPatcherError)
    -> Tensor
  {
    do {
      return try Tensor(dtype: dtype, shape: shape, storage: TensorStorage(borrowing: bytes, release: nil))
    } catch {
      throw .tensor(file: job.fileName, tensor: job.tensorName, format: job.format.name, error: error)
    }
  }

  /// The whole tensor at once (small tensors and layouts that cannot be cut).
  private func whole(_ source: some TensorChunkSource, job: Job) throws(ModelPatcherError) -> Result {
    let count = source.shape.reduce(1, *)
    var failure: ModelPatcherError?
    let tensor: Tensor
    do {
      tensor = try Tensor(dtype: source.dtype, shape: source.shape) { bytes in
        do throws(ModelPatcherError) {
          try source.read(elements: 0..<count, into: bytes)
        } catch {
          failure = error
        }
      }
    } catch {
      throw .tensor(file: job.fileName, tensor: job.tensorName, format: job.format.name, error: error)
    }
    if let failure { throw failure }
    let nonFinite = NonFiniteScan.count(in: tensor)
    if nonFinite > 0 && job.refuseNonFinite {
      throw .nonFiniteWeights(file: job.fileName, tensor: job.tensorName, count: nonFinite)
    }
    return Result(tensor: try quantizeChunk(tensor, job.parameters, job: job), nonFinite: nonFinite)
  }
}

/// One chunk's worth of input bytes (and of float32 values when the input is half precision), reused
/// for every chunk of a tensor.
final class ChunkBuffer {
  let memory: UnsafeMutableRawBufferPointer
  let floats: UnsafeMutableBufferPointer<Float>?

  /// Room for `byteCount` bytes as read, and for `elements` widened floats.
  init(byteCount: Int, widening elements: Int) {
    memory = .allocate(byteCount: max(byteCount, 1), alignment: 64)
    floats = elements > 0 ? .allocate(capacity: elements) : nil
  }

  deinit {
    memory.deallocate()
    floats?.deallocate()
  }
}
