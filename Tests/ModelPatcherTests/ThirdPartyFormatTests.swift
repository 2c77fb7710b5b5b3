import BitsAndBytes
import FormatConformance
import Foundation
import QuantCore
import TestSupport
import Testing

/// A 16-entry codebook defined outside the core: evenly spaced values in [-1, 1].
private enum Uniform4: FourBitCodebook {
  static let codec = Blockwise4BitCodec(
    constantTable: "uniform4", bitPatterns: (0..<16).map { (Float($0) / 7.5 - 1).bitPattern })
  static let summary = "16 evenly spaced values (a third-party test codebook)"
}

/// A third-party format: the shared 4-bit machinery with `Uniform4`, plus its own declaration of what
/// it means for `config.json` (a block another library would read) and of the tensor that marks its
/// checkpoints. Nothing in ModelPatcher knows its name.
private struct UniformFormat: QuantizationFormat {
  let base = Codebook4BitFormat<Uniform4>()
  var name: String { base.name }
  var summary: String { base.summary }
  var parameterSpecs: [FormatParameterSpec] { base.parameterSpecs }
  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    try base.quantize(tensor, parameters: parameters)
  }
  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    try base.checkpointTensors(for: tensor, weightName: weightName)
  }
  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    try base.loadCheckpoint(weightName: weightName, from: source)
  }
  func companionTensorNames(for weightName: String) -> [String] { base.companionTensorNames(for: weightName) }

  func modelConfiguration(parameters: FormatParameters, requested: BitsAndBytesConfig?) throws(QuantError)
    -> [(key: String, value: ConfigValue)]?
  {
    [
      (
        "quantization_config",
        .object([
          ("quant_method", .string("uniform4")), ("bits", .int(4)),
          ("blocksize", .int(try parameters.integer(Blockwise4BitCodec.blocksizeSpec))),
          ("compute_dtype", .string((requested?.bnb4bitComputeDType ?? .float32).rawValue)),
        ])
      )
    ]
  }

  func marksQuantizedCheckpoint(tensorName: String) -> Bool { base.marksQuantizedCheckpoint(tensorName: tensorName) }
}

private struct UniformPlugin: QuantPlugin {
  var name: String { "uniform" }
  func register(into registry: QuantRegistry) throws(RegistryError) { try registry.register(UniformFormat()) }
}

@Suite("A format plugin outside the core")
struct ThirdPartyFormatTests {
  @Test("its own declaration writes config.json, its marker refuses re-quantizing, it reads back")
  func declarationWritesConfig() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let registry = try StandardRegistry.make(extraPlugins: [UniformPlugin()])
    let patcher = CheckpointPatcher(registry: registry)
    var job = QuantizationJob(
      model: TestFiles.tinyLlama, output: folder.appending(path: "out"),
      quantization: .fourBit(.nf4, computeDType: .bfloat16))
    job.format = "uniform4"
    job.parameters["blocksize"] = .int(128)
    let summary = try await patcher.quantizeModel(job)
    #expect(summary.formats.keys.sorted() == ["uniform4"])

    let config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "out/config.json")))
    let block = try #require((config as? [String: Any])?["quantization_config"] as? [String: Any])
    #expect(block["quant_method"] as? String == "uniform4")
    #expect(block["bits"] as? Int == 4 && block["blocksize"] as? Int == 128)
    #expect(block["compute_dtype"] as? String == "bfloat16")
    #expect(block["load_in_4bit"] == nil, "no bitsandbytes fields: the model patcher adds nothing of its own")

    let checkpoint = try patcher.loadCheckpoint(at: folder.appending(path: "out"))
    #expect(Set(checkpoint.quantizedItems.compactMap(\.format)) == ["uniform4"])

    var again = QuantizationJob(model: folder.appending(path: "out"), output: folder.appending(path: "again"))
    again.format = "nf4"
    await #expect(throws: ModelPatcherError.self) { try await patcher.quantizeModel(again) }
    // The marker, not config.json, refuses it: a bare .safetensors file has no config.json.
    let file = try #require(checkpoint.input.checkpoint.file(containing: checkpoint.quantizedItems[0].name))
    var bare = QuantizationJob(model: file.url, output: folder.appending(path: "bare.safetensors"))
    bare.format = "nf4"
    do {
      try await patcher.quantizeModel(bare)
      Issue.record("a uniform4 checkpoint was quantized again")
    } catch {
      #expect(error.description.contains("uniform4"), "\(error)")
    }
  }

  @Test("a bare codebook plugin gets every generic piece and declares no transformers block")
  func genericCodebookPlugin() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let registry = try StandardRegistry.make(extraPlugins: [Codebook4BitPlugin<Uniform4>()])
    var job = QuantizationJob(model: TestFiles.tinyLlama, output: folder.appending(path: "out"))
    job.format = "uniform4"
    try await CheckpointPatcher(registry: registry).quantizeModel(job)
    let config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appending(path: "out/config.json")))
    #expect((config as? [String: Any])?["quantization_config"] == nil)
    let weight = try Tensor(SeededNormal.values(4 * 64, seed: 3), shape: [4, 64])
    let q = try quantize(weight, format: Codebook4BitFormat<Uniform4>(), backend: CPUBackend())
    #expect(q.format == "uniform4" && CPUBackend().accelerates(q.layout))
    #expect(try Uniform4.dequantize(q).shape == [4, 64])
  }
}
