public import Foundation
public import QuantCore
import SafeTensors

extension CheckpointPatcher {
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
  @discardableResult
  public func dequantizeCheckpoint(
    at url: URL, to output: URL, dtype: DType? = nil, overwrite: Bool = false, threads: Int = 0,
    events: PatchEventHandler? = nil
  ) async throws(ModelPatcherError) -> PatchSummary {
    if let dtype, ![.float16, .bfloat16, .float32].contains(dtype) {
      throw .configuration(
        ConfigurationError(
          location: nil, file: "--dtype", message: "unsupported output dtype", found: dtype.rawValue,
          validChoices: ["float16", "bfloat16", "float32"]))
    }
    let checkpoint = try loadCheckpoint(at: url)
    let items = checkpoint.items
    let patchItems = items.map { item in
      PatchItem(
        name: item.name, elementCount: item.elementCount, inputBytes: item.storedBytes,
        workingBytes: TensorPipeline.workingBytes(
          elements: item.elementCount, storedBytes: item.storedBytes,
          computed: item.format != nil || (dtype != nil && dtype != item.dtype && item.dtype.isFloatingPoint)),
        format: item.format, quantizedBytes: item.storedBytes,
        action: item.format.map { "\($0) → \(dtype?.rawValue ?? "original dtype")" } ?? "kept")
    }
    var configuration = checkpoint.input.configuration
    if case .object(let members) = configuration {
      configuration = .object(members.filter { $0.key != "quantization_config" })
      if let dtype, configuration?["dtype"] != nil { configuration?.setMember("dtype", to: .string(dtype.rawValue)) }
    }
    let finalConfiguration = configuration
    return try await patch(
      patchItems, to: PatchDestination(input: url, output: output, overwrite: overwrite, threads: threads), events: events,
      configuration: { () throws(ModelPatcherError) in finalConfiguration }, otherFiles: checkpoint.input.otherFiles,
      work: { (index) throws(ModelPatcherError) -> TensorPipeline.Output in
        let item = items[index]
        if item.format == nil, dtype == nil || dtype == item.dtype || !item.dtype.isFloatingPoint,
          let source = checkpoint.input.checkpoint.file(containing: item.name)
        {
          return TensorPipeline.Output(copies: [TensorPipeline.Copy(name: item.name, file: source)])
        }
        return TensorPipeline.Output(tensors: [NamedTensor(item.name, try checkpoint.decoded(item, to: dtype))])
      })
  }
}
