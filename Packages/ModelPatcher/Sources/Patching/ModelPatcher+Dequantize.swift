public import Foundation
public import QuantCore
import SafeTensors

extension ModelPatcher {
  /// Reads a checkpoint back through the registry (see ``QuantizedCheckpoint``).
  ///
  /// - Parameter url: A model folder or `.safetensors` file.
  /// - Returns: The checkpoint.
  /// - Throws: `ModelPatcherError` for unreadable or inconsistent input.
  public func loadCheckpoint(at url: URL) throws(ModelPatcherError) -> QuantizedCheckpoint {
    try QuantizedCheckpoint(url: url, registry: registry)
  }

  /// Decodes every quantized weight of a checkpoint back to floating point and writes a plain
  /// checkpoint (`config.json` without `quantization_config`, other files copied).
  ///
  /// - Parameters:
  ///   - url: A quantized model folder or file.
  ///   - output: The destination folder or `.safetensors` file.
  ///   - dtype: `float16`, `bfloat16` or `float32` for every floating-point tensor, or `nil` to decode
  ///     each weight to its original dtype and keep plain tensors as they are.
  ///   - overwrite: Whether an existing destination may be replaced.
  ///   - threads: Tensors in flight (0 = one per core).
  ///   - events: Progress callback.
  /// - Returns: What was done.
  /// - Throws: `ModelPatcherError`; nothing is left at the destination on failure.
  public func dequantizeCheckpoint(
    at url: URL, to output: URL, dtype: DType? = nil, overwrite: Bool = false, threads: Int = 0,
    events: PatchEventHandler? = nil
  ) async throws(ModelPatcherError) -> PatchSummary {
    let start = Date()
    if let dtype, ![.float16, .bfloat16, .float32].contains(dtype) {
      throw .configuration(
        ConfigurationError(
          location: nil, file: "--dtype", message: "unsupported output dtype", found: dtype.rawValue,
          validChoices: ["float16", "bfloat16", "float32"]))
    }
    let checkpoint = try loadCheckpoint(at: url)
    try checkOutput(output, against: url)
    let isFileOutput = output.pathExtension == "safetensors"
    let transaction = try OutputTransaction(destination: output, isFolderOutput: !isFileOutput, overwrite: overwrite)
    defer { transaction.rollback() }
    let items = checkpoint.items
    let totalBytes = items.reduce(0) { $0 + $1.storedBytes }
    events?(.started(tensors: items.count, bytes: totalBytes))
    let writer: TensorSink =
      isFileOutput
      ? .file(try SafeTensorsStreamingFile(url: transaction.stagedFile))
      : .folder(ShardedSafeTensorsWriter(folder: transaction.staging))
    var summary = PatchSummary(
      input: url.path, output: output.path, quantizedTensors: 0, keptTensors: 0, formats: [:], inputBytes: totalBytes,
      outputBytes: 0, parameters: items.reduce(0) { $0 + $1.elementCount }, quantizedParameters: 0, quantizedBytes: 0,
      seconds: 0, files: [], warnings: [])
    var completedBytes = 0
    let pipeline = TensorPipeline(
      limit: threads > 0 ? threads : TensorPipeline.defaultLimit, byteBudget: TensorPipeline.defaultByteBudget)
    let working = items.map { item in
      TensorPipeline.workingBytes(
        elements: item.elementCount, storedBytes: item.storedBytes,
        computed: item.format != nil || (dtype != nil && dtype != item.dtype && item.dtype.isFloatingPoint))
    }
    try await pipeline.run(byteCounts: working) {
      (index) throws(ModelPatcherError) -> TensorPipeline.Output in
      let item = items[index]
      if item.format == nil, dtype == nil || dtype == item.dtype || !item.dtype.isFloatingPoint,
        let source = checkpoint.input.checkpoint.file(containing: item.name)
      {
        return TensorPipeline.Output(copies: [TensorPipeline.Copy(name: item.name, file: source)])
      }
      return TensorPipeline.Output(tensors: [NamedTensor(item.name, try checkpoint.decoded(item, to: dtype))])
    } sink: { (index, output) throws(ModelPatcherError) in
      let item = items[index]
      summary.outputBytes += try writer.write(output)
      if let format = item.format {
        summary.quantizedTensors += 1
        summary.quantizedParameters += item.elementCount
        summary.quantizedBytes += item.storedBytes
        summary.formats[format, default: 0] += 1
      } else {
        summary.keptTensors += 1
      }
      completedBytes += item.storedBytes
      events?(
        .progress(
          PatchProgress(
            completedTensors: index + 1, totalTensors: items.count, completedBytes: completedBytes, totalBytes: totalBytes,
            tensorName: item.name, action: item.format.map { "\($0) → \(dtype?.rawValue ?? "original dtype")" } ?? "kept",
            elapsed: Date().timeIntervalSince(start))))
    }
    var configuration = checkpoint.input.configuration
    if case .object(let members) = configuration {
      configuration = .object(members.filter { $0.key != "quantization_config" })
      if let dtype, configuration?["dtype"] != nil { configuration?.setMember("dtype", to: .string(dtype.rawValue)) }
    }
    summary.files = try complete(
      transaction, writer: writer, configuration: configuration, otherFiles: checkpoint.input.otherFiles)
    summary.seconds = Date().timeIntervalSince(start)
    return summary
  }
}
