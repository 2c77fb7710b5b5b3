import BitsAndBytes
import Foundation
import LanguageModels
import ModelPatcher
import QuantCore
import SafeTensors
import Testing

/// Quantized checkpoints (transformers + bitsandbytes, bnb-patch), quantization at load, sharded folders.
@Suite("Quantized and sharded loading")
struct QuantizedLoadingTests {
  static func temporaryFolder(_ tag: String) -> URL {
    FileManager.default.temporaryDirectory.appending(path: "lm-\(tag)-\(UUID().uuidString)")
  }

  /// transformers + bitsandbytes NF4 with double quantization on CPU. Against the float32 model holding
  /// bitsandbytes' reference dequantization only summation order differs (measured 1e-7); bitsandbytes'
  /// own CPU kernels (0.50.2) differ from that reference by 6.7e-3 relative, which
  /// bounds the agreement with transformers' logits.
  @Test func bitsAndBytesNF4CheckpointMatchesTransformers() throws {
    let fixture = try LanguageModelFixture("bnb-nf4-dq")
    let model = try fixture.load()
    let footprint = model.memoryFootprint()
    #expect(footprint.parametersByFormat["nf4"] == 2 * (4 * 64 * 64 + 3 * 64 * 128))
    let logits = try model.logitsForAllPositions(for: fixture.prompt, cache: model.makeCache())
    let reference = try #require(fixture.logitsDequantized)
    let exact = relativeError(logits, reference)
    let library = relativeError(logits, fixture.logits)
    print("bnb-nf4-dq: relative error \(exact) (reference dequantization), \(library) (bitsandbytes CPU forward)")
    #expect(exact <= 1e-5)
    #expect(library <= 1e-2)
  }

  /// transformers + bitsandbytes LLM.int8 on CPU casts the activations to float16 and quantizes them
  /// to int8 too; the runtime multiplies float32 activations by the dequantized weights (`CB · SCB / 127`),
  /// so it matches the float32 model holding those weights (measured 1e-7) and transformers' logits
  /// within the activation rounding (measured 1.5e-2 relative).
  @Test func bitsAndBytesInt8CheckpointMatchesTransformers() throws {
    let fixture = try LanguageModelFixture("bnb-int8")
    let model = try fixture.load()
    #expect(model.memoryFootprint().parametersByFormat["int8"] == 2 * (4 * 64 * 64 + 3 * 64 * 128))
    let logits = try model.logitsForAllPositions(for: fixture.prompt, cache: model.makeCache())
    let reference = try #require(fixture.logitsDequantized)
    let exact = relativeError(logits, reference)
    let library = relativeError(logits, fixture.logits)
    print("bnb-int8: relative error \(exact) (weights CB · SCB / 127), \(library) (bitsandbytes CPU forward)")
    #expect(exact <= 1e-5)
    #expect(library <= 3e-2)
  }

  /// Quantizing at load gives the model `bnb-patch` writes for the same configuration, bit for bit;
  /// `lm_head` and the embeddings stay in their stored dtype.
  @Test(arguments: [
    BitsAndBytesConfig.fourBit(.nf4, doubleQuant: true), BitsAndBytesConfig.fourBit(.fp4),
    BitsAndBytesConfig.eightBit(),
  ])
  func quantizeAtLoadEqualsPatchedCheckpoint(config: BitsAndBytesConfig) async throws {
    let fixture = try LanguageModelFixture("llama")
    let output = Self.temporaryFolder("patched")
    defer { try? FileManager.default.removeItem(at: output) }
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    try await patcher.quantizeModel(QuantizationJob(model: fixture.directory, output: output, quantization: config))
    let atLoad = try fixture.load(quantization: config)
    let patched = try LanguageModel.load(directory: output, backend: atLoad.backend)
    let sequence = fixture.prompt + fixture.greedy
    let a = try atLoad.logitsForAllPositions(for: sequence, cache: atLoad.makeCache())
    let b = try patched.logitsForAllPositions(for: sequence, cache: patched.makeCache())
    #expect(a == b)
    let footprint = atLoad.memoryFootprint()
    #expect(footprint == patched.memoryFootprint())
    #expect(footprint.parametersByFormat[config.formatName] == 2 * (4096 + 2048 + 2048 + 4096 + 3 * 8192))
    // Embedding and lm_head (64 × 128 each) stay bfloat16.
    #expect(footprint.parametersByFormat["bfloat16"] == 2 * 128 * 64)
    // Quantized weights still predict like the original model most of the time.
    let reference = try fixture.load()
    let plain = try reference.logitsForAllPositions(for: sequence, cache: reference.makeCache())
    #expect(relativeError(a, plain) < 0.5)
  }

  /// A job (`quant.yaml`) with a format and rules quantizes at load as `bnb-patch` runs it: the rule keeps
  /// layer 0's MLP in bfloat16 and stores layer 1's attention as int8.
  @Test func quantizeAtLoadFollowsAJobsRules() async throws {
    let fixture = try LanguageModelFixture("llama")
    let output = Self.temporaryFolder("job")
    defer { try? FileManager.default.removeItem(at: output) }
    var job = QuantizationJob(model: fixture.directory, output: output)
    job.format = "nf4"
    job.rules = [
      TensorRule(pattern: "model.layers.0.mlp.*", format: nil),
      TensorRule(pattern: "model.layers.1.self_attn.*", format: "int8"),
    ]
    try await CheckpointPatcher(registry: try StandardRegistry.make()).quantizeModel(job)
    let atLoad = try LanguageModel.load(directory: fixture.directory, quantizationJob: job, threads: 1)
    let patched = try LanguageModel.load(directory: output, backend: atLoad.backend)
    let footprint = atLoad.memoryFootprint()
    #expect(footprint == patched.memoryFootprint())
    #expect(footprint.parametersByFormat["int8"] == 4096 + 2048 + 2048 + 4096)
    #expect(footprint.parametersByFormat["nf4"] == (4096 + 2048 + 2048 + 4096) + 3 * 8192)
    #expect(footprint.parametersByFormat["bfloat16"] == 2 * 128 * 64 + 3 * 8192)
    #expect(
      try atLoad.logitsForAllPositions(for: fixture.prompt, cache: atLoad.makeCache())
        == patched.logitsForAllPositions(for: fixture.prompt, cache: patched.makeCache()))
  }

  /// Asking to quantize an already quantized checkpoint is refused with the file named.
  @Test func quantizingAQuantizedCheckpointIsRefused() throws {
    let fixture = try LanguageModelFixture("bnb-nf4-dq")
    do {
      _ = try fixture.load(quantization: .eightBit())
      Issue.record("quantized twice")
    } catch {
      guard case .quantization(let file, _) = error as? LanguageModelError else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(file.contains("bnb-nf4-dq"))
    }
  }

  /// A fine-grained FP8 checkpoint written by bnb-patch runs through the registry's FP8 format and
  /// matches the same checkpoint dequantized back to float32.
  @Test func fp8CheckpointRuns() async throws {
    let fixture = try LanguageModelFixture("llama")
    let fp8 = Self.temporaryFolder("fp8")
    let dequantized = Self.temporaryFolder("fp8-dequantized")
    defer {
      try? FileManager.default.removeItem(at: fp8)
      try? FileManager.default.removeItem(at: dequantized)
    }
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    var job = QuantizationJob(model: fixture.directory, output: fp8)
    job.format = "fp8"
    try await patcher.quantizeModel(job)
    try await patcher.dequantizeCheckpoint(at: fp8, to: dequantized, dtype: .float32)
    let quantized = try fixture.load()
    let model = try LanguageModel.load(directory: fp8, backend: quantized.backend)
    #expect(model.memoryFootprint().parametersByFormat.keys.contains { $0.contains("fp8") })
    let reference = try LanguageModel.load(directory: dequantized, backend: quantized.backend)
    let a = try model.logitsForAllPositions(for: fixture.prompt, cache: model.makeCache())
    let b = try reference.logitsForAllPositions(for: fixture.prompt, cache: reference.makeCache())
    let error = relativeError(a, b)
    print("fp8 vs dequantized: \(error)")
    #expect(error <= 1e-5)
  }

  /// A sharded copy of a folder gives bit-identical logits.
  @Test func shardedFolderEqualsSingleFile() throws {
    let fixture = try LanguageModelFixture("qwen3-qknorm")
    let folder = Self.temporaryFolder("sharded")
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = try SafeTensorsFile(contentsOf: fixture.directory.appending(path: "model.safetensors"))
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let writer = ShardedSafeTensorsWriter(folder: folder, maximumShardSize: 40_000)
    for name in source.tensorNames { try writer.addCopy(of: name, in: source, named: name) }
    let shards = try writer.finish()
    #expect(shards.count > 2)
    try FileManager.default.copyItem(
      at: fixture.directory.appending(path: "config.json"), to: folder.appending(path: "config.json"))
    let single = try fixture.load()
    let sharded = try LanguageModel.load(directory: folder, backend: single.backend)
    #expect(
      try single.logitsForAllPositions(for: fixture.prompt, cache: single.makeCache())
        == sharded.logitsForAllPositions(for: fixture.prompt, cache: sharded.makeCache()))
  }
}
