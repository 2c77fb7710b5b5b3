import DoubleQuant
import QuantCore

/// Quantizes one tensor a chunk at a time, so that memory is bounded by the chunk (plus the quantized
/// result), not by the tensor: no float32 copy of the whole tensor is ever made.
///
/// Each chunk is read into one reused buffer, scanned for NaN/infinity, quantized by the format through
/// the backend's encoder (``QuantizationFormat/quantize(_:parameters:backend:)``, which widens only the
/// chunk to float32), and its packed data and state are copied straight into the whole tensor's output
/// buffers. ``ChunkPlan`` says where cuts may fall; the bytes are identical to quantizing the whole
/// tensor (tested for every built-in format and parameter set with chunks of a few elements).
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
    // The probe is one row: a tensor of one row, or of rows wider than the largest default chunk, runs whole.
    guard chunkElements > 0, count > chunkElements, shape.count >= 2, rows > 1,
      columns <= max(chunkElements, Self.defaultChunkElements)
    else {
      return try whole(source, job: job)
    }
    let probeBuffer = ChunkBuffer(byteCount: columns * source.dtype.byteSize)
    let probe = try chunk(source, elements: 0..<columns, shape: [1, columns], buffer: probeBuffer, job: job, scan: false)
    let plan = try ChunkPlan.learn(
      from: quantizeChunk(probe, job.parameters, job: job), parameters: job.parameters,
      format: job.format,
      quantizeAgain: { (parameters) throws(QuantError) in
        try job.format.quantize(probe, parameters: parameters, backend: job.backend)
      })
    if case .whole = plan { return try whole(source, job: job) }
    let ranges: [Range<Int>]
    let isRows: Bool
    switch plan.unit {
    case .elements(let quantum):
      isRows = false
      let step = max(quantum, chunkElements / quantum * quantum)
      ranges = stride(from: 0, to: count, by: step).map { $0..<min($0 + step, count) }
    case .rows(let quantum):
      isRows = true
      let stepRows = max(quantum, chunkElements / columns / quantum * quantum)
      let step = stepRows * columns
      ranges = stride(from: 0, to: count, by: step).map { $0..<min($0 + step, count) }
    }
    let largest = ranges.map(\.count).max() ?? 0
    let isHalf = source.dtype == .float16 || source.dtype == .bfloat16
    let buffer = ChunkBuffer(byteCount: largest * source.dtype.byteSize, widening: isHalf ? largest : 0)
    var assembler = ChunkAssembler(plan: plan, shape: shape, dtype: source.dtype, format: job.format.name)
    let parameters = plan.chunkParameters(job.parameters)
    var nonFinite = 0
    for (index, range) in ranges.enumerated() {
      let chunkShape = isRows ? [range.count / columns, columns] : [range.count]
      let tensor = try chunk(source, elements: range, shape: chunkShape, buffer: buffer, job: job, scan: true, found: &nonFinite)
      if nonFinite > 0 && job.refuseNonFinite {
        // The message gives the whole tensor's count: the rest is scanned, not quantized.
        for rest in ranges[(index + 1)...] {
          _ = try chunk(source, elements: rest, shape: [rest.count], buffer: buffer, job: job, scan: true, found: &nonFinite)
        }
        throw .nonFiniteWeights(file: job.fileName, tensor: job.tensorName, count: nonFinite)
      }
      let quantized = try quantizeChunk(tensor, parameters, job: job)
      guard assembler.append(quantized, at: range) else { return try whole(source, job: job) }
    }
    do {
      return Result(tensor: try assembler.finish(), nonFinite: nonFinite, chunks: ranges.count)
    } catch {
      throw .tensor(file: job.fileName, tensor: job.tensorName, format: job.format.name, error: error)
    }
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

  /// Reads `elements` into `buffer` and views them as a tensor of `shape` (valid until the next read).
  private func chunk(
    _ source: some TensorChunkSource, elements: Range<Int>, shape: [Int], buffer: ChunkBuffer, job: Job, scan: Bool
  ) throws(ModelPatcherError) -> Tensor {
    var ignored = 0
    return try chunk(source, elements: elements, shape: shape, buffer: buffer, job: job, scan: scan, found: &ignored)
  }

  private func chunk(
    _ source: some TensorChunkSource, elements: Range<Int>, shape: [Int], buffer: ChunkBuffer, job: Job, scan: Bool,
    found: inout Int
  ) throws(ModelPatcherError) -> Tensor {
    let bytes = UnsafeMutableRawBufferPointer(rebasing: buffer.memory[0..<(elements.count * source.dtype.byteSize)])
    try source.read(elements: elements, into: bytes)
    var dtype = source.dtype
    var stored = UnsafeRawBufferPointer(bytes)
    if scan, let floats = buffer.floats, dtype == .float16 || dtype == .bfloat16 {
      // Half precision is widened here, with the NaN/infinity count in the same pass, so the format
      // receives float32 and converts nothing (the bytes it writes are the same: widening is exact).
      let destination = UnsafeMutableBufferPointer(rebasing: floats[0..<elements.count])
      found += HalfWidening.widen(UnsafeRawBufferPointer(bytes), bfloat16: dtype == .bfloat16, into: destination)
      (dtype, stored) = (.float32, UnsafeRawBufferPointer(destination))
    } else if scan {
      found += NonFiniteScan.count(in: UnsafeRawBufferPointer(bytes), dtype: dtype)
    }
    do {
      return try Tensor(dtype: dtype, shape: shape, storage: TensorStorage(borrowing: stored, release: nil))
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

  init(byteCount: Int, widening elements: Int = 0) {
    memory = .allocate(byteCount: max(byteCount, 1), alignment: 64)
    floats = elements > 0 ? .allocate(capacity: elements) : nil
  }

  deinit {
    memory.deallocate()
    floats?.deallocate()
  }
}
