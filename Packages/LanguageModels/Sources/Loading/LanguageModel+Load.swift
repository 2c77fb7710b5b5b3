import BitsAndBytes
import CPUKernels
public import Foundation
import ModelPatcher
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
  /// - Returns: The model.
  /// - Throws: `LanguageModelError` naming the file, tensor or key at fault.
  public static func load(
    directory: URL, quantization: BitsAndBytesConfig? = nil, backend: (any KernelBackend)? = nil, threads: Int = 0,
    prefillChunkSize: Int = 256, registry: QuantRegistry? = nil
  ) throws(LanguageModelError) -> LanguageModel {
    let configuration = try ModelConfiguration(contentsOf: directory)
    let chosen: QuantRegistry
    if let registry { chosen = registry } else { chosen = try makeRegistry(directory) }
    let backend = backend ?? CPUBackend(threads: threads)
    let source = try WeightSource(
      directory: directory, registry: chosen, quantization: quantization, backend: backend)
    let builder = ModelBuilder(configuration: configuration, source: source, backend: backend)
    return try builder.build(prefillChunkSize: prefillChunkSize)
  }

  private static func makeRegistry(_ directory: URL) throws(LanguageModelError) -> QuantRegistry {
    do {
      return try StandardRegistry.make()
    } catch {
      throw .checkpoint(file: directory.path, reason: "cannot set up the format registry: \(error.description)")
    }
  }
}
