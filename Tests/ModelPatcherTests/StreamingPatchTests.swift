import BitsAndBytes
import FormatConformance
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

@Suite("Whole models quantized in chunks are byte-identical to whole-tensor quantization")
struct StreamingPatchTests {
  let registry: QuantRegistry
  init() throws { registry = try StandardRegistry.make() }

  /// A model whose weights span many chunks of 64 elements; `poison` puts NaN in a tensor's last element.
  func writeModel(in folder: URL, poison: String? = nil) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var tensors: [NamedTensor] = []
    for (index, (name, shape)) in [
      ("model.embed_tokens.weight", [40, 48]), ("model.layers.0.self_attn.q_proj.weight", [48, 48]),
      ("model.layers.0.mlp.up_proj.weight", [136, 48]), ("model.layers.0.mlp.down_proj.weight", [48, 136]),
      ("lm_head.weight", [40, 48]),
    ].enumerated() {
      var values = SeededNormal.values(shape.reduce(1, *), seed: UInt64(100 + index))
      if name == poison { values[values.count - 1] = .nan }
      tensors.append(NamedTensor(name, try Tensor(converting: values, to: .bfloat16, shape: shape)))
    }
    tensors.append(NamedTensor("model.norm.weight", try Tensor(converting: [Float](repeating: 1, count: 48), to: .bfloat16)))
    try SafeTensorsWriter.write(tensors, to: folder.appending(path: "model.safetensors"))
    try Data(#"{"model_type": "llama", "hidden_size": 48}"#.utf8).write(to: folder.appending(path: "config.json"))
    return folder
  }

  func job(_ model: URL, _ output: URL, format: String, parameters: [String: ConfigValue]) -> QuantizationJob {
    var job = QuantizationJob(model: model, output: output)
    job.format = format
    job.parameters = FormatParameters(parameters)
    return job
  }

  @Test(arguments: [
    ("nf4", ["double_quant": ConfigValue.bool(true)]), ("fp4", ["blocksize": .int(128)]), ("int8", [:]),
    ("fp8_e4m3", ["tile_size": .int(16)]), ("blockwise8", ["blocksize": .int(256)]),
  ])
  func chunkedModelMatchesWholeTensorModel(format: String, parameters: [String: ConfigValue]) async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try writeModel(in: folder.appending(path: "model"))
    var whole = CheckpointPatcher(registry: registry)
    whole.chunkElements = 0
    var chunked = CheckpointPatcher(registry: registry)
    chunked.chunkElements = 64
    let first = folder.appending(path: "whole")
    let second = folder.appending(path: "chunked")
    let summary = try await whole.quantizeModel(job(model, first, format: format, parameters: parameters))
    #expect(summary.quantizedTensors >= 3)
    _ = try await chunked.quantizeModel(job(model, second, format: format, parameters: parameters))
    #expect(try TestFiles.snapshot(first) == TestFiles.snapshot(second))
  }

  @Test func nanInTheLastChunkIsRefusedAndNothingIsWritten() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try writeModel(in: folder.appending(path: "model"), poison: "model.layers.0.mlp.up_proj.weight")
    var patcher = CheckpointPatcher(registry: registry)
    patcher.chunkElements = 64
    let output = folder.appending(path: "out")
    do {
      _ = try await patcher.quantizeModel(job(model, output, format: "nf4", parameters: [:]))
      Issue.record("the NaN was not refused")
    } catch {
      #expect(
        error
          == .nonFiniteWeights(
            file: model.appending(path: "model.safetensors").path, tensor: "model.layers.0.mlp.up_proj.weight", count: 1))
      #expect(error.category == .nonFiniteWeights)
    }
    #expect(try TestFiles.contents(of: folder) == ["model"])
  }
}

@Suite("The streaming quantizer stops between chunks when its task is cancelled")
struct StreamingCancellationTests {
  @Test func cancelledTaskStopsBeforeTheNextChunk() async throws {
    let registry = try StandardRegistry.make()
    let job = ChunkedQuantizer.Job(
      format: try registry.format(named: "nf4"), parameters: FormatParameters(), backend: try registry.backend(named: "cpu"),
      refuseNonFinite: true, fileName: "model.safetensors", tensorName: "w")
    let tensor = try Tensor(converting: SeededNormal.values(64 * 64, seed: 9), to: .float16, shape: [64, 64])
    let task = Task { () throws(ModelPatcherError) -> Int in
      withUnsafeCurrentTask { $0?.cancel() }
      return try ChunkedQuantizer(chunkElements: 64).quantize(InMemoryChunkSource(tensor: tensor), job: job).chunks
    }
    await #expect(throws: ModelPatcherError.cancelled) { try await task.value }
  }
}
