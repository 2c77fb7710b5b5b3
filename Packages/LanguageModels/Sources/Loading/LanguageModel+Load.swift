import BitsAndBytes
import CPUKernels
public import Foundation
public import ModelPatcher
public import QuantCore

extension LanguageModel {
  /// Loads a model folder: `config.json` and `model.safetensors` (or shards with
  /// `model.safetensors.index.json`), memory-mapped.
  ///
  /// Weights are used as stored: plain float32/float16/bfloat16 projections run in place through the
  /// backend's dense kernels; quantized checkpoints (bitsandbytes 4-bit and 8-bit, fine-grained FP8, any
  /// plugin format) are recognised through the registry. With `quantization`, plain projections are
  /// quantized at load exactly as `bnb-patch` would write them (same plan: embeddings and
  /// `llm_int8_skip_modules`, `lm_head` by default, stay in high precision); nothing is written to disk.
  ///
  /// - Parameters:
  ///   - directory: The model folder.
  ///   - quantization: Quantize plain weights at load with this configuration (`nil`: run as stored).
  ///   - backend: Where projections run (`nil`: the CPU kernels with `threads` threads).
  ///   - threads: Threads of the default CPU backend (0: one per core).
  ///   - prefillChunkSize: Positions per forward chunk.
  ///   - registry: Formats and backends (`nil`: the built-in plugins, `StandardRegistry.make()`).
  ///   - progress: Called with (layers built, layer count) after each decoder layer (for a progress bar).
  /// - Returns: The model.
  /// - Throws: `LanguageModelError` naming the file, tensor or key at fault.
  public static func load(
    directory: URL, quantization: BitsAndBytesConfig? = nil, backend: (any KernelBackend)? = nil, threads: Int = 0,
    prefillChunkSize: Int = 256, registry: QuantRegistry? = nil, progress: ((Int, Int) -> Void)? = nil
  ) throws(LanguageModelError) -> LanguageModel {
    let job = quantization.map {
      QuantizationJob(model: directory, output: directory.appending(path: ".bnb-load-unused"), quantization: $0)
    }
    return try load(
      directory: directory, quantizationJob: job, backend: backend, threads: threads, prefillChunkSize: prefillChunkSize,
      registry: registry, progress: progress)
  }

  /// Loads a model folder and quantizes its plain weights at load as a `bnb-patch` job (a `quant.yaml`)
  /// says: its format, parameters and rules; the job's `model` and `output` are ignored.
  ///
  /// - Parameters:
  ///   - directory: The model folder.
  ///   - quantizationJob: The job (`nil`: run as stored).
  ///   - backend: Where projections run (`nil`: the CPU kernels with `threads` threads).
  ///   - threads: Threads of the default CPU backend (0: one per core).
  ///   - prefillChunkSize: Positions per forward chunk.
  ///   - registry: Formats and backends (`nil`: the built-in plugins).
  ///   - progress: Called with (layers built, layer count) after each decoder layer.
  /// - Returns: The model.
  /// - Throws: `LanguageModelError` naming the file, tensor or key at fault.
  public static func load(
    directory: URL, quantizationJob: QuantizationJob?, backend: (any KernelBackend)? = nil, threads: Int = 0,
    prefillChunkSize: Int = 256, registry: QuantRegistry? = nil, progress: ((Int, Int) -> Void)? = nil
  ) throws(LanguageModelError) -> LanguageModel {
    let configuration = try ModelConfiguration(contentsOf: directory)
    let chosen: QuantRegistry
    if let registry { chosen = registry } else { chosen = try makeRegistry(directory) }
    let backend = backend ?? CPUBackend(threads: threads)
    guard backend.isAvailable else {
      throw .invalidConfiguration(
        file: directory.path, key: "backend",
        reason: "backend '\(backend.name)' is not available on this machine"
          + (backend.unavailableReason.map { " (\($0))" } ?? ""))
    }
    let source = try WeightSource(
      directory: directory, registry: chosen, quantization: quantizationJob, backend: backend)
    let builder = ModelBuilder(configuration: configuration, source: source, backend: backend)
    return try builder.build(prefillChunkSize: prefillChunkSize, progress: progress)
  }

  private static func makeRegistry(_ directory: URL) throws(LanguageModelError) -> QuantRegistry {
    do {
      return try StandardRegistry.make()
    } catch {
      throw .checkpoint(file: directory.path, reason: "cannot set up the format registry: \(error.description)")
    }
  }
}
