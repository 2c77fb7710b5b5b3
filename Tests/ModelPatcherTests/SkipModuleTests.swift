import Foundation
import QuantCore
import TestSupport
import Testing

@testable import ModelPatcher

/// `llm_int8_skip_modules` follows transformers 5's `should_convert_module` exactly, refuses entries that are
/// invalid or could backtrack exponentially at their job line, and is compiled once per plan.
@Suite("llm_int8_skip_modules: transformers' rule, validated at load")
struct SkipModuleTests {
  struct Case: Decodable {
    var entry: String
    var module: String
    var skipped: Bool
  }
  struct Fixture: Decodable {
    struct Invalid: Decodable { var entry: String }
    var cases: [Case]
    var invalid: [Invalid]
  }

  static func fixture() throws -> Fixture {
    let data = try Data(contentsOf: TestFiles.fixture("skip-modules/cases.json"))
    return try JSONDecoder().decode(Fixture.self, from: data)
  }

  @Test("every entry/module pair agrees with transformers' should_convert_module")
  func agreesWithTransformers() throws {
    let fixture = try Self.fixture()
    #expect(fixture.cases.count == 364)
    #expect(fixture.cases.contains { $0.skipped } && fixture.cases.contains { !$0.skipped })
    for item in fixture.cases {
      let pattern = try SkipModulePattern(item.entry)
      #expect(pattern.matches(module: item.module) == item.skipped, "\(item.entry) on \(item.module)")
    }
  }

  @Test("entries Python's re refuses are refused at their line in the job file")
  func invalidRegexIsAConfigurationError() throws {
    for invalid in try Self.fixture().invalid {
      #expect(throws: SkipModulePattern.Problem.self) { try SkipModulePattern(invalid.entry) }
      let yaml = """
        model: a
        output: b
        quantization:
          load_in_8bit: true
          llm_int8_skip_modules:
            - lm_head
            - '\(invalid.entry)'
        """
      let error = try #require(throws: ConfigurationError.self) {
        try QuantizationJob(yaml: YAMLDocument(text: yaml, file: "job.yaml").root, baseFolder: URL(filePath: "/"))
      }
      #expect(error.description.hasPrefix("job.yaml:7:7: this llm_int8_skip_modules entry is not a valid regular expression"))
    }
  }

  @Test(
    "patterns that can backtrack exponentially are refused before they run",
    arguments: ["(a+)+$", "(a*)*b", "(x|xx)+y", "((ab)*)+", #"(\w+\.)+lm_head"#, #"(a)\1"#, "a.*b.*c.*d.*e.*f"])
  func catastrophicPatternsAreRefused(_ entry: String) {
    #expect(throws: SkipModulePattern.Problem.self) { try SkipModulePattern(entry) }
  }

  @Test(
    "ordinary patterns stay accepted",
    arguments: ["lm_head", "model.layers.*.mlp", #"model\.layers\.(0|1|2)\."#, "(?:model|encoder).layers.3", "a{2,3}b", "[(+*]x"])
  func ordinaryPatternsAreAccepted(_ entry: String) throws {
    _ = try SkipModulePattern(entry)
  }

  @Test("a plan with thousands of entries compiles each once and skips by the first match")
  func manyEntries() throws {
    let entries = (0..<5_000).map { "model.layers.\($0).mlp" } + ["model.layers.7.mlp"]
    let plan = QuantizationPlan.make(
      entries: PlanTests.entries(["model.layers.7.mlp.up_proj.weight", "model.layers.70.mlp.up_proj.weight"]),
      isModelFolder: true, defaultFormat: "int8", defaultParameters: FormatParameters(), skipModules: entries, rules: [])
    #expect(plan.items[0].action == .keep(.skippedModule("model.layers.7.mlp")))
    #expect(plan.items[1].action == .keep(.skippedModule("model.layers.70.mlp")))
  }
}
