import BNBPatchKit
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@Suite("bnb-patch commands, run in-process")
struct CommandTests {
  @Test func quantizeInspectVerifyDequantize() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let job = try TestFiles.job(
      "model: \(TestFiles.tinyLlama.path)\noutput: out/q\nquantization:\n  load_in_8bit: true\n", in: folder)
    let quantized = folder.appending(path: "out/q")

    let run = await CLI.run(["--config", job])
    #expect(run.status == 0, "\(run.error)")
    #expect(run.output.contains("quantized 14 tensors (14 int8), kept 7"))
    #expect(run.error.contains("[21/21]"))
    #expect(
      try TestFiles.contents(of: quantized) == [
        "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json",
      ])

    let inspect = await CLI.run(["inspect", quantized.path])
    #expect(inspect.status == 0)
    #expect(
      inspect.output.contains("model.layers.0.mlp.down_proj.weight             float16  [128, 352]   int8     45569        8.09"))
    #expect(inspect.output.contains("21 tensors (14 quantized)"))
    let inspectJSON = await CLI.run(["inspect", quantized.path, "--json"])
    let report = try JSONSerialization.jsonObject(with: Data(inspectJSON.output.utf8)) as? [String: Any]
    #expect(report?["quantizedTensors"] as? Int == 14)

    let verify = await CLI.run(["verify", quantized.path, "--against", TestFiles.tinyLlama.path, "--min-snr", "30"])
    #expect(verify.status == 0, "\(verify.error)")
    #expect(verify.output.contains("14 quantized layers, 0 beyond thresholds; 7 plain tensors identical, 0 changed"))
    let failing = await CLI.run(["verify", quantized.path, "--against", TestFiles.tinyLlama.path, "--min-snr", "90", "--json"])
    #expect(failing.status == 2)
    #expect(failing.error.contains("verification failed for 14 tensors"))
    #expect(failing.output.contains("\"snrDecibels\""))

    let dequantized = folder.appending(path: "f32.safetensors")
    let back = await CLI.run(["dequantize", quantized.path, "-o", dequantized.path, "--dtype", "float32", "--quiet"])
    #expect(back.status == 0, "\(back.error)")
    #expect(back.output.isEmpty && back.error.isEmpty)
    let file = try SafeTensorsFile(contentsOf: dequantized)
    #expect(file.tensorNames.count == 21 && file.entries.allSatisfy { $0.dtype == .float32 })
  }

  @Test func overridesFromFlags() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.smallModel(in: folder.appending(path: "m"))
    let job = try TestFiles.job("model: m\noutput: never\nquantization: {load_in_8bit: true}\n", in: folder)
    let output = folder.appending(path: "elsewhere.safetensors")
    let run = await CLI.run(["--config", job, "--output", output.path, "--format", "fp8_e4m3", "--threads", "1", "--json"])
    #expect(run.status == 0, "\(run.error)")
    let summary = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]
    #expect((summary?["formats"] as? [String: Int]) == ["fp8_e4m3": 1])
    #expect(try TestFiles.contents(of: folder) == ["elsewhere.safetensors", "job.yaml", "m"])
    _ = model
  }

  @Test func dryRunWritesNothing() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let job = try TestFiles.job("model: \(TestFiles.tinyLlama.path)\noutput: out\nformat: int8\n", in: folder)
    let run = await CLI.run(["--config", job, "--dry-run"])
    #expect(run.status == 0)
    #expect(run.output.contains("lm_head.weight") && run.output.contains("keep (skip module 'lm_head')"))
    #expect(try TestFiles.contents(of: folder) == ["job.yaml"])
  }

  @Test func formatsListsTheRegistry() async throws {
    let run = await CLI.run(["formats"])
    #expect(run.status == 0)
    #expect(run.output.contains("int8") && run.output.contains("reference"))
    let json = await CLI.run(["formats", "--json"])
    let report = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
    let names = (report?["formats"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
    #expect(names.contains("int8") && names.contains("fp8_e4m3"))
  }

  @Test func formatsSaysWhyABackendIsUnavailable() async throws {
    let json = await CLI.run(["formats", "--json"])
    let report = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
    let backends = report?["backends"] as? [[String: Any]] ?? []
    let metal = try #require(backends.first { $0["name"] as? String == "metal" })
    if metal["available"] as? Bool == false {
      let reason = try #require(metal["unavailableReason"] as? String)
      let run = await CLI.run(["formats"])
      #expect(run.output.contains("metal is unavailable: \(reason)"))
    } else {
      #expect(metal["unavailableReason"] == nil)
    }
  }

  @Test func extraPluginsJoinTheRegistry() async throws {
    let run = await CLI.run(["formats", "--json"], plugins: [RenamedInt8Plugin()])
    #expect(run.status == 0)
    #expect(run.output.contains("\"plugin\" : \"test-plugin\""))
  }
}

/// A third-party plugin: registers an existing format under a new name.
struct RenamedInt8Plugin: QuantPlugin {
  var name: String { "test-plugin" }
  func register(into registry: QuantRegistry) throws(RegistryError) {
    guard let format = registry.formats.first(where: { $0.format.name == "int8" })?.format else { return }
    try registry.register(RenamedFormat(base: format), aliases: [])
  }
}

struct RenamedFormat: QuantizationFormat {
  var base: any QuantizationFormat
  var name: String { "int8-copy" }
  var summary: String { "int8 under another name" }
  var parameterSpecs: [FormatParameterSpec] { base.parameterSpecs }
  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    var result = try base.quantize(tensor, parameters: parameters)
    result.format = name
    return result
  }
  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    try base.checkpointTensors(for: tensor, weightName: weightName)
  }
  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? { nil }
  func companionTensorNames(for weightName: String) -> [String] { base.companionTensorNames(for: weightName) }
}
