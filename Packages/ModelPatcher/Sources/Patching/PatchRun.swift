import Foundation
import QuantCore
import SafeTensors

/// Where a patch writes its tensors: one `.safetensors` file or a folder of shards. The model patcher's
/// one writer abstraction, over SafeTensors' two writers.
protocol CheckpointWriter: AnyObject {
  /// Writes a tensor computed in memory.
  func add(_ tensor: Tensor, named name: String) throws(SafeTensorsError)
  /// Writes a tensor copied unchanged from an input file.
  func addCopy(of source: String, in file: SafeTensorsFile, named name: String) throws(SafeTensorsError)
  /// Completes the output and returns the names of the files written.
  func complete() throws(SafeTensorsError) -> [String]
}

extension SafeTensorsWriter: CheckpointWriter {
  func complete() throws(SafeTensorsError) -> [String] {
    _ = try finish()
    return [url.lastPathComponent]
  }
}

extension ShardedSafeTensorsWriter: CheckpointWriter {
  func complete() throws(SafeTensorsError) -> [String] { try finish() }
}

extension CheckpointWriter {
  /// Writes one pipeline output.
  ///
  /// - Returns: The bytes written.
  func write(_ output: TensorPipeline.Output) throws(ModelPatcherError) -> Int {
    var bytes = 0
    do throws(SafeTensorsError) {
      for named in output.tensors {
        try add(named.tensor, named: named.name)
        bytes += named.tensor.byteCount
      }
      for copy in output.copies {
        try addCopy(of: copy.name, in: copy.file, named: copy.name)
        bytes += copy.file.entry(named: copy.name)?.byteCount ?? 0
      }
    } catch {
      throw .safeTensors(error)
    }
    return bytes
  }
}

/// One tensor of a patch (quantizing or dequantizing), as the shared skeleton accounts for it.
struct PatchItem: Sendable {
  /// The tensor's (or weight's) key.
  var name: String
  /// Its logical element count.
  var elementCount: Int
  /// Its bytes in the input.
  var inputBytes: Int
  /// Its working memory in flight (``TensorPipeline/workingBytes(elements:storedBytes:computed:)``).
  var workingBytes: Int
  /// The format it is quantized with (or decoded from), `nil` when kept as it is.
  var format: String?
  /// The bytes of its quantized form when known up front (dequantizing); `nil` counts what is written.
  var quantizedBytes: Int?
  /// What happens to it, for progress events.
  var action: String
}

/// What the shared skeleton writes: where, and with which settings.
struct PatchDestination {
  /// The input folder or file (for the summary and the output check).
  var input: URL
  /// The output folder, or a `.safetensors` file.
  var output: URL
  /// Whether an existing output may be replaced.
  var overwrite: Bool
  /// The largest shard of a folder output.
  var maximumShardSize = ShardedSafeTensorsWriter.defaultMaximumShardSize
  /// Tensors in flight (0 = one per core).
  var threads = 0
  /// Working memory in flight (see ``TensorPipeline``).
  var byteBudget = TensorPipeline.defaultByteBudget
}

extension CheckpointPatcher {
  /// The skeleton `quantizeModel` and `dequantizeCheckpoint` share: check the destination, stage the
  /// output, run `work` for every item through the bounded pipeline, write in order, account, report
  /// progress, then write `config.json` and the other files and move the output into place.
  ///
  /// - Parameters:
  ///   - items: The tensors, in output order.
  ///   - destination: Where and how to write.
  ///   - events: Progress callback.
  ///   - configuration: The `config.json` to write (folder outputs), computed after the tensors.
  ///   - otherFiles: Files copied beside the weights (folder outputs).
  ///   - work: Computes item `index`'s output (runs concurrently).
  /// - Returns: The summary.
  /// - Throws: `ModelPatcherError`; nothing is left at the destination on failure.
  func patch(
    _ items: [PatchItem], to destination: PatchDestination, events: PatchEventHandler?,
    configuration: () throws(ModelPatcherError) -> JSONValue?, otherFiles: [URL],
    work: @escaping @Sendable (Int) throws(ModelPatcherError) -> TensorPipeline.Output
  ) async throws(ModelPatcherError) -> PatchSummary {
    let start = Date()
    try checkOutput(destination.output, against: destination.input)
    let isFileOutput = destination.output.pathExtension == "safetensors"
    let transaction = try OutputTransaction(
      destination: destination.output, isFolderOutput: !isFileOutput, overwrite: destination.overwrite)
    defer { transaction.rollback() }
    let totalBytes = items.reduce(0) { $0 + $1.inputBytes }
    events?(.started(tensors: items.count, bytes: totalBytes))
    let writer: any CheckpointWriter
    if isFileOutput {
      do {
        writer = try SafeTensorsWriter(url: transaction.stagedFile)
      } catch {
        throw .safeTensors(error)
      }
    } else {
      writer = ShardedSafeTensorsWriter(folder: transaction.staging, maximumShardSize: destination.maximumShardSize)
    }
    var summary = PatchSummary(
      input: destination.input.path, output: destination.output.path, quantizedTensors: 0, keptTensors: 0, formats: [:],
      inputBytes: totalBytes, outputBytes: 0, parameters: items.reduce(0) { $0 + $1.elementCount }, quantizedParameters: 0,
      quantizedBytes: 0, seconds: 0, files: [], warnings: [])
    var completedBytes = 0
    let pipeline = TensorPipeline(
      limit: destination.threads > 0 ? destination.threads : TensorPipeline.defaultLimit,
      byteBudget: destination.byteBudget)
    try await pipeline.run(byteCounts: items.map(\.workingBytes), work: work) { (index, output) throws(ModelPatcherError) in
      let item = items[index]
      let written = try writer.write(output)
      summary.outputBytes += written
      if let format = item.format {
        summary.quantizedTensors += 1
        summary.quantizedParameters += item.elementCount
        summary.quantizedBytes += item.quantizedBytes ?? written
        summary.formats[format, default: 0] += 1
      } else {
        summary.keptTensors += 1
      }
      for warning in output.warnings {
        summary.warnings.append(warning)
        events?(.warning(warning))
      }
      completedBytes += item.inputBytes
      events?(
        .progress(
          PatchProgress(
            completedTensors: index + 1, totalTensors: items.count, completedBytes: completedBytes, totalBytes: totalBytes,
            tensorName: item.name, action: item.action, elapsed: Date().timeIntervalSince(start))))
    }
    summary.files = try complete(transaction, writer: writer, configuration: configuration(), otherFiles: otherFiles)
    summary.seconds = Date().timeIntervalSince(start)
    return summary
  }
}
