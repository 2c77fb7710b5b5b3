import Foundation
import QuantCore

/// Runs per-tensor work concurrently with a bounded number of tensors in flight, and hands results to
/// a sink strictly in input order.
///
/// At most `limit` tensors are between "started" and "written", and their input bytes stay under
/// `byteBudget` (a single tensor larger than the budget runs alone). Peak memory is therefore a few
/// tensors, whatever the model size.
struct TensorPipeline {
  /// Tensors in flight at most.
  var limit: Int
  /// Input bytes in flight at most (one tensor is always allowed).
  var byteBudget: Int

  /// One unit of work's result: the tensors to write and any warnings.
  struct Output: Sendable {
    var tensors: [NamedTensor]
    var warnings: [String] = []
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
  static var defaultLimit: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
  /// The default input bytes in flight: 256 MiB.
  static let defaultByteBudget = 256 << 20
}
