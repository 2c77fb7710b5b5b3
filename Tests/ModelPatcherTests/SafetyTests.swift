import BitsAndBytes
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

@Suite("Outputs appear whole or not at all; inputs never change")
struct SafetyTests {
  let registry: QuantRegistry
  init() throws { registry = try StandardRegistry.make() }

  func job(_ model: URL, _ output: URL) -> QuantizationJob {
    QuantizationJob(model: model, output: output, quantization: BitsAndBytesConfig(loadIn8bit: true))
  }

  @Test func existingOutputIsRefusedThenReplacedWithForce() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let before = try TestFiles.snapshot(model)
    let output = folder.appending(path: "out")
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: false)
    try Data("keep me".utf8).write(to: output.appending(path: "precious.txt"))
    let patcher = CheckpointPatcher(registry: registry)
    await #expect(throws: ModelPatcherError.outputExists(path: output.path)) {
      try await patcher.quantizeModel(job(model, output))
    }
    #expect(try TestFiles.contents(of: output) == ["precious.txt"])
    #expect(try TestFiles.contents(of: folder) == ["model", "out"])
    var forced = job(model, output)
    forced.overwrite = true
    let summary = try await patcher.quantizeModel(forced)
    #expect(summary.quantizedTensors == 3)
    #expect(try TestFiles.contents(of: output) == ["config.json", "model.safetensors", "tokenizer_config.json"])
    #expect(try TestFiles.contents(of: folder) == ["model", "out"])
    #expect(try TestFiles.snapshot(model) == before)
  }

  @Test func nonFiniteWeightsAreRefusedOrWarned() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"), poison: "model.layers.0.mlp.up_proj.weight")
    let output = folder.appending(path: "out")
    let patcher = CheckpointPatcher(registry: registry)
    await #expect(
      throws: ModelPatcherError.nonFiniteWeights(
        file: model.appending(path: "model.safetensors").path, tensor: "model.layers.0.mlp.up_proj.weight", count: 1)
    ) { try await patcher.quantizeModel(job(model, output)) }
    #expect(try TestFiles.contents(of: folder) == ["model"])
    var lenient = job(model, output)
    lenient.nonFinite = .warn
    let summary = try await patcher.quantizeModel(lenient)
    #expect(summary.warnings.count == 1 && summary.warnings[0].contains("model.layers.0.mlp.up_proj.weight"))
  }

  @Test func corruptInputIsNamedAndNothingIsWritten() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let weights = model.appending(path: "model.safetensors")
    let bytes = try Data(contentsOf: weights)
    try bytes.dropLast(3).write(to: weights)
    let patcher = CheckpointPatcher(registry: registry)
    do {
      _ = try await patcher.quantizeModel(job(model, folder.appending(path: "out")))
      Issue.record("a truncated file was accepted")
    } catch {
      #expect(error.category == .invalidInput)
      #expect(error.description.contains("model.safetensors") && error.description.contains("truncated"))
    }
    #expect(try TestFiles.contents(of: folder) == ["model"])
  }

  @Test func alreadyQuantizedInputIsRefused() async throws {
    let patcher = CheckpointPatcher(registry: registry)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    do {
      _ = try await patcher.quantizeModel(job(TestFiles.fixture("hf/tiny-llama-bnb-int8"), folder.appending(path: "out")))
      Issue.record("a quantized model was quantized again")
    } catch {
      #expect(error.category == .invalidInput && error.description.contains("already quantized"))
    }
    #expect(try TestFiles.contents(of: folder).isEmpty)
  }

  @Test func outputInsideInputIsRefused() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let patcher = CheckpointPatcher(registry: registry)
    do {
      _ = try await patcher.quantizeModel(job(model, model.appending(path: "q")))
      Issue.record("output inside the input was accepted")
    } catch {
      #expect(error.category == .configuration)
    }
    #expect(try TestFiles.contents(of: model) == ["config.json", "model.safetensors", "tokenizer_config.json"])
  }

  @Test func shardedAndSingleFileOutputs() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let patcher = CheckpointPatcher(registry: registry)
    var sharded = job(TestFiles.tinyLlama, folder.appending(path: "sharded"))
    sharded.maximumShardSize = 300_000
    let summary = try await patcher.quantizeModel(sharded)
    #expect(summary.files.contains(SafeTensorsCheckpoint.indexFileName))
    let reread = try SafeTensorsCheckpoint(contentsOf: folder.appending(path: "sharded"))
    #expect(reread.files.count > 1)
    let single = try SafeTensorsFile(contentsOf: TestFiles.fixture("hf/tiny-llama-bnb-int8/model.safetensors"))
    #expect(Set(reread.tensorNames) == Set(single.tensorNames))
    let file = folder.appending(path: "weights.safetensors")
    _ = try await patcher.quantizeModel(job(TestFiles.tinyLlama.appending(path: "model.safetensors"), file))
    // A bare file: every 2-D float weight is a candidate, lm_head and the embedding included.
    let bare = try patcher.loadCheckpoint(at: file)
    #expect(bare.quantizedItems.count == 16)
    #expect(try TestFiles.contents(of: folder) == ["sharded", "weights.safetensors"])
  }

  @Test func shardedInputThroughItsIndex() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let patcher = CheckpointPatcher(registry: registry)
    let summary = try await patcher.quantizeModel(job(TestFiles.fixture("safetensors/sharded"), folder.appending(path: "out")))
    // q_proj and down_proj of two layers; the embedding, the norm and lm_head are kept.
    #expect(summary.quantizedTensors == 4 && summary.keptTensors == 3)
    #expect(summary.files == ["model.safetensors"])
    let back = try patcher.loadCheckpoint(at: folder.appending(path: "out"))
    #expect(back.quantizedItems.count == 4 && back.items.count == 7)
  }

  @Test func cancellationLeavesNothing() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let patcher = CheckpointPatcher(registry: registry)
    let request = job(TestFiles.tinyLlama, folder.appending(path: "out"))
    let task = Task { try await patcher.quantizeModel(request) }
    task.cancel()
    do {
      _ = try await task.value
      Issue.record("a cancelled job completed")
    } catch {
      #expect((error as? ModelPatcherError) == .cancelled)
    }
    #expect(try TestFiles.contents(of: folder).isEmpty)
  }
}
