import Foundation
import QuantCore
import SafeTensors
import _CPUKernelsNative

/// Runs per-tensor work concurrently with a bounded number of tensors in flight, and hands results to
/// a sink strictly in input order.
///
/// At most `limit` tensors are between "started" and "written", and their estimated working memory stays
/// under `byteBudget` (a single tensor larger than the budget runs alone). Peak memory is therefore a few
/// tensors, whatever the model size.
struct TensorPipeline {
  /// Tensors in flight at most.
  var limit: Int
  /// Input bytes in flight at most (one tensor is always allowed).
  var byteBudget: Int

  /// One unit of work's result: the tensors to write and any warnings.
  struct Output: Sendable {
    /// Tensors computed in memory.
    var tensors: [NamedTensor] = []
    /// Tensors copied unchanged from an input file (read in chunks, never through the mapping).
    var copies: [Copy] = []
    /// Messages for the user.
    var warnings: [String] = []
  }

  /// A tensor written unchanged from an input file.
  struct Copy: Sendable {
    var name: String
    var file: SafeTensorsFile
  }

  /// Runs `work` for every index of `byteCounts`, passing results to `sink` in order.
  ///
  /// - Parameters:
  ///   - byteCounts: The input size of each unit.
  ///   - work: Computes a unit (runs concurrently).
  ///   - sink: Consumes results in order (runs on the calling task).
  /// - Throws: The first error of `work` or `sink`, or `.cancelled`.
  func run(
    byteCounts: [Int],
    work: @escaping @Sendable (Int) throws(ModelPatcherError) -> Output,
    sink: (Int, Output) throws(ModelPatcherError) -> Void
  ) async throws(ModelPatcherError) {
    let count = byteCounts.count
    let outcome: ModelPatcherError? = await withTaskGroup(of: (Int, Result<Output, ModelPatcherError>).self) { group in
      var next = 0
      var written = 0
      var bytesInFlight = 0
      var ready: [Int: Output] = [:]
      while written < count {
        if Task.isCancelled {
          group.cancelAll()
          return .cancelled
        }
        while next < count,
          next == written || (next - written < limit && bytesInFlight + byteCounts[next] <= byteBudget)
        {
          let index = next
          bytesInFlight += byteCounts[index]
          group.addTask {
            if Task.isCancelled { return (index, .failure(.cancelled)) }
            do throws(ModelPatcherError) {
              return (index, .success(try work(index)))
            } catch {
              return (index, .failure(error))
            }
          }
          next += 1
        }
        guard let (index, result) = await group.next() else { break }
        switch result {
        case .failure(let error):
          group.cancelAll()
          return error
        case .success(let output): ready[index] = output
        }
        while let output = ready.removeValue(forKey: written) {
          do throws(ModelPatcherError) {
            try sink(written, output)
          } catch {
            group.cancelAll()
            return error
          }
          bytesInFlight -= byteCounts[written]
          written += 1
        }
      }
      return Task.isCancelled ? .cancelled : nil
    }
    if let outcome { throw outcome }
  }

  /// The default number of tensors in flight: one per core.
  static var defaultLimit: Int { max(1, Int(ck_available_processors())) }
  /// The default working memory in flight: 1 GiB (estimated with ``workingBytes(elements:storedBytes:computed:)``).
  static let defaultByteBudget = 1 << 30
  /// The working memory in flight while quantizing: 256 MiB (estimated with
  /// ``streamingWorkingBytes(elements:storedBytes:computed:)``), so that peak memory stays a few hundred
  /// megabytes whatever the model; a tensor whose quantized form is larger runs alone.
  static let streamingByteBudget = 256 << 20

  /// The memory a unit of work needs while in flight: a tensor that is computed holds its mapped input,
  /// a float32 copy and the formats' float32 scratch (about 8 bytes per element) besides the result; a
  /// copied tensor streams through a 4 MiB buffer.
  ///
  /// - Parameters:
  ///   - elements: The tensor's element count.
  ///   - storedBytes: Its bytes in the input.
  ///   - computed: Whether it is quantized or decoded (else copied).
  static func workingBytes(elements: Int, storedBytes: Int, computed: Bool) -> Int {
    computed ? storedBytes + elements * 8 : min(storedBytes, 4 << 20)
  }

  /// The memory a tensor needs while the streaming quantizer (``ChunkedQuantizer``) works on it: its
  /// quantized form (at most one byte per element for the built-in formats) and the chunk buffers
  /// (≤ 6 bytes per chunk element); a copied tensor streams through a 4 MiB buffer. Tensors quantized whole
  /// (layouts that cannot be cut) need more than this estimate.
  ///
  /// - Parameters:
  ///   - elements: The tensor's element count.
  ///   - storedBytes: Its bytes in the input.
  ///   - computed: Whether it is quantized (else copied).
  static func streamingWorkingBytes(elements: Int, storedBytes: Int, computed: Bool) -> Int {
    computed ? elements + 6 * min(elements, ChunkedQuantizer.defaultChunkElements) : min(storedBytes, 4 << 20)
  }
}
