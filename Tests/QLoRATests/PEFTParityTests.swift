import Foundation
import LanguageModels
import QLoRA
import QuantCore
import SafeTensors
import TestSupport
import Testing

/// A tiny random Llama (hidden 32, intermediate 48, 4/2 heads, 2 layers, vocab 96) with a peft adapter on
/// every linear (r 4, alpha 8, non-zero lora_B): logits, loss and every lora_A/lora_B gradient.
@Suite("Whole-model LoRA parity with peft")
struct PEFTParityTests {
  static let modelFolder = TestFiles.fixture("qlora/tiny-llama")
  static let adapterFolder = TestFiles.fixture("qlora/tiny-llama-peft-adapter")

  static func loadModel() throws -> TrainableModel {
    var model = try TrainableModel(model: try LanguageModel.load(directory: modelFolder, threads: 1))
    let (configuration, adapters) = try PEFTAdapterFiles.read(from: adapterFolder)
    try model.setAdapters(adapters, configuration: configuration.lora, targets: TargetModules(names: configuration.targetModules))
    return model
  }

  @Test func peftAdapterLoadsWithEveryLinear() throws {
    let model = try Self.loadModel()
    #expect(model.adapterNames.count == 14)
    #expect(model.adapterNames == model.linearNames)
  }

  @Test func logitsMatchPeft() throws {
    let expected = try Fixture("tiny-llama-peft-expected.safetensors")
    let model = try Self.loadModel()
    let logits = try model.logits(try expected.ints("input_ids"))
    #expect(Fixture.relativeError(logits, try expected.floats("logits")) < 1e-5)
  }

  @Test func lossAndGradientsMatchPeft() throws {
    let expected = try Fixture("tiny-llama-peft-expected.safetensors")
    var model = try Self.loadModel()
    var noDropout: SeededGenerator? = nil
    let result = try model.accumulateGradients(
      tokens: try expected.ints("input_ids"), labels: try expected.ints("labels"), generator: &noDropout)
    #expect(Fixture.relativeError([result.loss], try expected.floats("loss")) < 1e-5)
    #expect(result.tokens == 14)
    try expected.expectAdapterGradients(of: model)
  }

  @Test func adapterRoundTripsThroughPEFTFiles() throws {
    let model = try Self.loadModel()
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    try PEFTAdapterFiles.write(model, to: folder, baseModel: "tiny-llama")
    let (configuration, adapters) = try PEFTAdapterFiles.read(from: folder)
    #expect(configuration.lora == model.loraConfiguration)
    #expect(configuration.targetModules.count == 14)
    #expect(Set(adapters.keys) == Set(model.adapterNames))
    for (name, adapter) in adapters {
      #expect(adapter.a == model.adapters[name]?.a)
      #expect(adapter.b == model.adapters[name]?.b)
    }
    let text = try String(contentsOf: folder.appending(path: "adapter_config.json"), encoding: .utf8)
    #expect(text.contains("\"peft_type\": \"LORA\""))
    #expect(text.contains("\"task_type\": \"CAUSAL_LM\""))
  }

  @Test func inMemoryReadersGiveTheFolderReadersAdapters() throws {
    let (configuration, adapters) = try PEFTAdapterFiles.read(from: Self.adapterFolder)
    let configurationBytes = try [UInt8](Data(contentsOf: Self.adapterFolder.appending(path: "adapter_config.json")))
    #expect(try PEFTAdapterConfiguration(jsonBytes: configurationBytes, file: "c.json") == configuration)
    let file = try SafeTensorsFile(contentsOf: Self.adapterFolder.appending(path: "adapter_model.safetensors"))
    var tensors = [String: Tensor]()
    for name in file.tensorNames { tensors[name] = try file.tensor(named: name) }
    let inMemory = try PEFTAdapterFiles.adapters(
      from: InMemoryTensorSource(tensors), file: "w.safetensors", configuration: configuration)
    #expect(inMemory.keys.sorted() == adapters.keys.sorted())
    for (module, adapter) in adapters {
      #expect(inMemory[module]?.a == adapter.a && inMemory[module]?.b == adapter.b, "\(module)")
    }
    // With two factors missing, the error names the first module in sorted order, every time.
    let names = tensors.keys.filter { $0.hasSuffix(".lora_B.weight") }.sorted()
    for name in names.prefix(2) { tensors[name] = nil }
    let first = String(names[0].dropLast(".lora_B.weight".count))
    let missing = QLoRAError.adapterTensor(
      file: "w.safetensors", tensor: first + ".lora_B.weight", reason: "missing (its other factor is present)")
    #expect(throws: missing) {
      _ = try PEFTAdapterFiles.adapters(from: InMemoryTensorSource(tensors), file: "w.safetensors", configuration: configuration)
    }
  }

  @Test func unknownTargetAndRankZeroAreRejected() throws {
    var model = try TrainableModel(model: try LanguageModel.load(directory: Self.modelFolder, threads: 1))
    #expect(throws: QLoRAError.unknownTargetModule("qkv_proj")) {
      try model.addAdapters(configuration: LoRAConfiguration(), targets: TargetModules(names: ["qkv_proj"]), seed: 1)
    }
    #expect(throws: QLoRAError.self) {
      try model.addAdapters(configuration: LoRAConfiguration(rank: 0), targets: .allLinear, seed: 1)
    }
    #expect(throws: QLoRAError.self) { try model.logits(Array(repeating: 1, count: 65)) }
  }

  @Test func layerRangeAndNamesSelectAdapters() throws {
    var model = try TrainableModel(model: try LanguageModel.load(directory: Self.modelFolder, threads: 1))
    try model.addAdapters(
      configuration: LoRAConfiguration(rank: 2, alpha: 4), targets: TargetModules(names: ["q_proj", "v_proj"], layers: [1]),
      seed: 3)
    #expect(model.adapterNames == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
    // PEFT init: B is zero, A is within ±1/√in.
    let q = try #require(model.adapters["model.layers.1.self_attn.q_proj"])
    #expect(q.b.allSatisfy { $0 == 0 })
    #expect(q.a.allSatisfy { abs($0) <= 1 / Float(32).squareRoot() })
    #expect(Set(q.a).count > q.a.count / 2)
  }
}

/// The same model loaded with `load_in_4bit` (NF4, blocksize 64, quantized at load, bit-identical to
/// bitsandbytes) against peft over the bitsandbytes-dequantized weights. Both sides hold the same base
/// values, so the stated tolerance is the fp32 one (1e-4 on gradients, 1e-5 on loss and logits).
@Suite("NF4-base LoRA parity with peft")
struct NF4ParityTests {
  static func loadModel() throws -> TrainableModel {
    let runtime = try LanguageModel.load(
      directory: PEFTParityTests.modelFolder, quantization: .fourBit(.nf4), threads: 1)
    var model = try TrainableModel(model: runtime)
    let (configuration, adapters) = try PEFTAdapterFiles.read(from: PEFTParityTests.adapterFolder)
    try model.setAdapters(
      adapters, configuration: configuration.lora, targets: TargetModules(names: configuration.targetModules))
    return model
  }

  @Test func lossGradientsAndLogitsMatchPeftOverDequantizedWeights() throws {
    let inputs = try Fixture("tiny-llama-peft-expected.safetensors")
    let expected = try Fixture("tiny-llama-peft-nf4-expected.safetensors")
    var model = try Self.loadModel()
    let tokens = try inputs.ints("input_ids")
    #expect(Fixture.relativeError(try model.logits(tokens), try expected.floats("logits")) < 1e-5)
    var noDropout: SeededGenerator? = nil
    let result = try model.accumulateGradients(tokens: tokens, labels: try inputs.ints("labels"), generator: &noDropout)
    #expect(Fixture.relativeError([result.loss], try expected.floats("loss")) < 1e-5)
    // The fp32 base's loss differs: the quantization is really in effect.
    #expect(abs(result.loss - (try inputs.floats("loss"))[0]) > 1e-4)
    try expected.expectAdapterGradients(of: model)
  }
}
