import BitsAndBytes
import Foundation
import LanguageModels
import ModelPatcher
import QuantCore
import Testing

/// A 16-entry codebook from outside the package (evenly spaced values in [-1, 1]).
private enum EvenCodebook: FourBitCodebook {
  static let codec = Blockwise4BitCodec(
    constantTable: "even4", bitPatterns: (0..<16).map { (Float($0) / 7.5 - 1).bitPattern })
  static let summary = "16 evenly spaced values (a third-party test codebook)"
}

/// Formats from plugins run through the registry; the runtime names none of them.
@Suite("Plugin formats")
struct PluginFormatTests {
  @Test func thirdPartyCodebookCheckpointRuns() async throws {
    let registry = try StandardRegistry.make(extraPlugins: [Codebook4BitPlugin<EvenCodebook>()])
    let fixture = try LanguageModelFixture("qwen3-qknorm")
    let patched = FileManager.default.temporaryDirectory.appending(path: "lm-plugin-\(UUID().uuidString)")
    let restored = FileManager.default.temporaryDirectory.appending(path: "lm-plugin-f32-\(UUID().uuidString)")
    defer {
      try? FileManager.default.removeItem(at: patched)
      try? FileManager.default.removeItem(at: restored)
    }
    var job = QuantizationJob(model: fixture.directory, output: patched)
    job.format = "even4"
    let patcher = CheckpointPatcher(registry: registry)
    try await patcher.quantizeModel(job)
    try await patcher.dequantizeCheckpoint(at: patched, to: restored, dtype: .float32)

    let model = try LanguageModel.load(directory: patched, threads: 1, registry: registry)
    #expect(model.memoryFootprint().parametersByFormat["even4"] == 2 * (4096 + 2048 + 2048 + 4096 + 3 * 8192))
    let atLoad = try LanguageModel.load(
      directory: fixture.directory, quantizationJob: job, backend: model.backend, registry: registry)
    let reference = try LanguageModel.load(directory: restored, backend: model.backend)
    let logits = try model.logitsForAllPositions(for: fixture.prompt, cache: model.makeCache())
    #expect(try atLoad.logitsForAllPositions(for: fixture.prompt, cache: atLoad.makeCache()) == logits)
    let dense = try reference.logitsForAllPositions(for: fixture.prompt, cache: reference.makeCache())
    #expect(relativeError(logits, dense) <= 1e-5)
    // Without the plugin the checkpoint's weights are not recognised, and the error names the tensor.
    do {
      _ = try LanguageModel.load(directory: patched)
      Issue.record("loaded a plugin checkpoint without the plugin")
    } catch {
      print("without the plugin: \(error)")
      #expect(error.description.contains("model.layers.0.self_attn.q_proj.weight"))
      #expect(error.description.contains("no installed plugin recognises"))
    }
  }
}
