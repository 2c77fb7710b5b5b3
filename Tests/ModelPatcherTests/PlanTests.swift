import BitsAndBytes
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

@Suite("Which tensors are quantized")
struct PlanTests {
  static func entries(_ names: [String], shape: [Int] = [8, 8], dtype: DType = .float16) -> [SafeTensorsEntry] {
    names.map { SafeTensorsEntry(name: $0, dtype: dtype, shape: shape, start: 0, end: shape.reduce(1, *) * dtype.byteSize) }
  }

  @Test func tinyLlamaFollowsTransformers() throws {
    let job = QuantizationJob(
      model: TestFiles.tinyLlama, output: URL(filePath: "/tmp/unused"), quantization: BitsAndBytesConfig(loadIn8bit: true))
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    let (_, plan) = try patcher.plan(job)
    let quantized = Set(plan.quantizedItems.map(\.name))
    // Exactly the linear layers transformers quantized: the tensors with an SCB in the int8 fixture.
    let fixture = try SafeTensorsFile(contentsOf: TestFiles.fixture("hf/tiny-llama-bnb-int8/model.safetensors"))
    let expected = Set(fixture.tensorNames.filter { $0.hasSuffix(".SCB") }.map { String($0.dropLast(4)) + ".weight" })
    #expect(quantized == expected)
    #expect(quantized.count == 14)
    let reasons = Dictionary(uniqueKeysWithValues: plan.items.map { ($0.name, $0.action) })
    #expect(reasons["lm_head.weight"] == .keep(.skippedModule("lm_head")))
    #expect(reasons["model.embed_tokens.weight"] == .keep(.embedding))
    #expect(reasons["model.norm.weight"] == .keep(.notTwoDimensional))
  }

  @Test func skipModulesRulesAndFirstMatch() {
    let names = [
      "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight",
      "model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.bias", "lm_head.weight", "visual.proj.weight",
    ]
    let rules: [(rule: TensorRule, parameters: FormatParameters)] = [
      (TensorRule(pattern: "model.layers.0.*", format: nil), FormatParameters()),
      (TensorRule(pattern: "*.down_proj", format: "int8"), FormatParameters(["threshold": .double(6)])),
      (TensorRule(pattern: "model.layers.*", format: "fp4"), FormatParameters()),
    ]
    let plan = QuantizationPlan.make(
      entries: PlanTests.entries(names), isModelFolder: true, defaultFormat: "nf4", defaultParameters: FormatParameters(),
      skipModules: ["visual"], rules: rules)
    let actions = plan.items.map(\.action)
    #expect(actions[0] == .keep(.rule("model.layers.0.*")))
    #expect(actions[1] == .keep(.rule("model.layers.0.*")))
    #expect(actions[2] == .quantize(format: "int8", parameters: FormatParameters(["threshold": .double(6)])))
    #expect(actions[3] == .quantize(format: "fp4", parameters: FormatParameters()))
    #expect(actions[4] == .keep(.notAWeight))
    // An explicit skip list replaces the default: lm_head is quantized now.
    #expect(actions[5] == .quantize(format: "nf4", parameters: FormatParameters()))
    #expect(actions[6] == .keep(.skippedModule("visual")))
  }

  @Test func bareFilesQuantizeEveryTwoDimensionalFloatWeight() {
    let entries =
      PlanTests.entries(["embed.weight", "lm_head.weight"]) + PlanTests.entries(["ids.weight"], dtype: .int32)
      + PlanTests.entries(["norm.weight"], shape: [8]) + PlanTests.entries(["empty.weight"], shape: [0, 8])
    let plan = QuantizationPlan.make(
      entries: entries, isModelFolder: false, defaultFormat: "int8", defaultParameters: FormatParameters(), skipModules: nil,
      rules: [])
    #expect(plan.items.map(\.action.isQuantized) == [true, true, false, false, false])
    #expect(plan.items[2].action == .keep(.notFloatingPoint))
    #expect(plan.items[4].action == .keep(.empty))
  }

  @Test(arguments: [
    ("lm_head", "lm_head", true), ("model.layers.1", "model.layers.1.mlp.up_proj", true),
    ("model.layers.1", "model.layers.10.mlp.up_proj", false),  // transformers 5: a match must end at a module boundary
    ("up_proj", "model.layers.1.mlp.up_proj", true), (#"model\.layers\.[0-3]\."#, "model.layers.2.mlp.up_proj", true),
    ("mlp", "model.layers.1.mlp.up_proj", false),
  ])
  func skipModuleMatching(_ entry: String, _ module: String, _ expected: Bool) {
    #expect(QuantizationPlan.matchesSkipModule(module, entry) == expected)
  }

  @Test(arguments: [
    ("model.layers.*.mlp.down_proj", "model.layers.12.mlp.down_proj.weight", true),
    ("model.layers.0.*", "model.layers.0.self_attn.q_proj.weight", true),
    ("model.layers.0.*", "model.layers.10.self_attn.q_proj.weight", false),
    ("*.q_proj", "model.layers.3.self_attn.q_proj.weight", true),
    ("model.layers.[0-1].*", "model.layers.1.mlp.up_proj.weight", true),
    ("model.layers.[!0-1].*", "model.layers.1.mlp.up_proj.weight", false),
    ("model.layers.?.mlp.up_proj.weight", "model.layers.7.mlp.up_proj.weight", true),
    ("*proj", "lm_head.weight", false),
  ])
  func ruleGlobs(_ pattern: String, _ name: String, _ expected: Bool) {
    #expect(TensorRule(pattern: pattern, format: nil).matches(name) == expected)
  }
}
