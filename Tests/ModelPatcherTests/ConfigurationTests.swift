import BitsAndBytes
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

@Suite("BitsAndBytesConfig and job files")
struct ConfigurationTests {
  static let variants = ["tiny-llama-bnb-nf4-dq", "tiny-llama-bnb-fp4", "tiny-llama-bnb-int8"]

  static func fixtureBlock(_ variant: String) throws -> JSONValue {
    let text = try String(contentsOf: TestFiles.fixture("hf/\(variant)/config.json"), encoding: .utf8)
    return try #require(try JSONParser.parse(text)["quantization_config"])
  }

  @Test("transformers' quantization_config reads and writes back exactly", arguments: variants)
  func roundTripsTransformersBlock(_ variant: String) throws {
    let block = try ConfigurationTests.fixtureBlock(variant)
    let config = try #require(try BitsAndBytesConfig.from(json: block, file: variant))
    let written = config.jsonValue.text(style: .python(indent: 2, sortKeys: true))
    #expect(written == block.text(style: .python(indent: 2, sortKeys: true)))
    // Codable with transformers' names.
    let decoded = try JSONDecoder().decode(BitsAndBytesConfig.self, from: JSONEncoder().encode(config))
    #expect(decoded == config)
  }

  @Test func fixtureSettings() throws {
    let nf4 = try #require(
      try BitsAndBytesConfig.from(json: ConfigurationTests.fixtureBlock(ConfigurationTests.variants[0]), file: ""))
    #expect(nf4.loadIn4bit && !nf4.loadIn8bit && nf4.bnb4bitQuantType == .nf4 && nf4.bnb4bitUseDoubleQuant)
    #expect(nf4.bnb4bitComputeDType == .bfloat16 && nf4.formatName == "nf4")
    let int8 = try #require(
      try BitsAndBytesConfig.from(json: ConfigurationTests.fixtureBlock(ConfigurationTests.variants[2]), file: ""))
    #expect(int8.loadIn8bit && int8.formatName == "int8" && int8.llmInt8Threshold == 6.0)
    #expect(int8.formatParameters["threshold"] == .double(6.0))
  }

  @Test func bundledExampleParses() throws {
    let job = try QuantizationJob(contentsOf: TestFiles.repository.appending(path: "Examples/quant.yaml"))
    #expect(job.model == TestFiles.tinyLlama.standardizedFileURL)
    #expect(job.output.lastPathComponent == "tiny-llama-nf4")
    #expect(job.output.deletingLastPathComponent().lastPathComponent == "out")
    #expect(job.overwrite)
    #expect(
      job.quantization
        == BitsAndBytesConfig(
          loadIn4bit: true, bnb4bitComputeDType: .bfloat16, bnb4bitQuantType: .nf4, bnb4bitUseDoubleQuant: true))
  }

  @Test func everyKeyParses() throws {
    let yaml = """
      model: /models/in
      output: out.safetensors
      overwrite: false
      format: nf4
      parameters: {blocksize: 128}
      backend: reference
      threads: 3
      max_shard_size: 2GB
      non_finite: warn
      copy_files: false
      registry: {threads: 2}
      quantization:
        load_in_4bit: true
        llm_int8_skip_modules: [lm_head, "model.layers.0"]
      rules:
        - match: "*.down_proj"
          format: int8
          parameters: {threshold: 0.0}
        - match: "model.layers.1.*"
          format: none
      """
    let job = try QuantizationJob(yaml: YAMLDocument(text: yaml, file: "job.yaml").root, baseFolder: URL(filePath: "/base"))
    #expect(job.model.path == "/models/in" && job.output.path == "/base/out.safetensors")
    #expect(job.format == "nf4" && job.parameters["blocksize"] == .int(128) && job.backend == "reference")
    #expect(job.threads == 3 && job.maximumShardSize == 2_000_000_000 && job.nonFinite == .warn && !job.copyOtherFiles)
    #expect(job.registry?.threads == 2)
    #expect(job.quantization?.llmInt8SkipModules == ["lm_head", "model.layers.0"])
    #expect(job.rules.map(\.format) == ["int8", nil])
    #expect(job.rules[0].parameters["threshold"] == .double(0))
  }

  @Test(arguments: [
    ("model: a\noutput: b\nquantization: {load_in_4bit: true}\nbogus: 1\n", "job.yaml:4:1: unknown key 'bogus' in the job file"),
    ("output: b\nquantization: {load_in_4bit: true}\n", "job.yaml:1:1: the job file needs 'model:'"),
    ("model: a\noutput: b\n", "job.yaml:1:1: the job file needs a 'quantization:' block or a 'format:'"),
    (
      "model: a\noutput: b\nquantization:\n  load_in_4bit: true\n  bnb_4bit_quant_type: nf5\n",
      "job.yaml:5:24: invalid value for bnb_4bit_quant_type"
    ),
    (
      "model: a\noutput: b\nquantization:\n  load_in_4bit: true\n  load_in_8bit: true\n",
      "job.yaml:4:3: load_in_4bit and load_in_8bit are both true"
    ),
    ("model: a\noutput: b\nquantization: {load_in_4bit: yes please}\n", "job.yaml:3:30: load_in_4bit must be true or false"),
    ("model: a\noutput: b\nformat: int8\nthreads: -1\n", "job.yaml:4:10: threads must be 0"),
    ("model: a\noutput: b\nformat: int8\nrules:\n  - match: x\n", "job.yaml:5:5: a rule needs 'format:'"),
    ("model: a\noutput: b\nformat: int8\nmax_shard_size: lots\n", "job.yaml:4:17: max_shard_size must be"),
    ("model: [a\n", "job.yaml:2:1: malformed YAML"),
  ])
  func badJobsNamePositions(_ yaml: String, _ message: String) throws {
    do {
      _ = try QuantizationJob(yaml: YAMLDocument(text: yaml, file: "job.yaml").root, baseFolder: URL(filePath: "/"))
      Issue.record("accepted: \(yaml)")
    } catch {
      #expect(error.description.hasPrefix(message), "\(error.description)")
    }
  }

  @Test func formatInsideTheQuantizationBlockAndPlugins() throws {
    let yaml = """
      model: m
      output: o
      plugins: [mlx-affine]
      quantization:
        format: affine4
        parameters: { group_size: 64 }
      """
    let job = try QuantizationJob(yaml: YAMLDocument(text: yaml, file: "job.yaml").root, baseFolder: URL(filePath: "/"))
    #expect(job.quantization == nil && job.format == "affine4" && job.parameters["group_size"] == .int(64))
    #expect(job.requiredPlugins.map(\.name) == ["mlx-affine"])
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    #expect(throws: ModelPatcherError.self) { try patcher.resolveFormats(job) }
    do {
      _ = try patcher.resolveFormats(job)
    } catch {
      #expect(error.description.hasPrefix("job.yaml:3:11: the job needs plugin 'mlx-affine', which is not built into"))
    }
  }

  @Test func byteSizes() {
    #expect(QuantizationJob.parseByteSize("5GB") == 5_000_000_000)
    #expect(QuantizationJob.parseByteSize("500MB") == 500_000_000)
    #expect(QuantizationJob.parseByteSize("2GiB") == 2 << 30)
    #expect(QuantizationJob.parseByteSize("1234") == 1234)
    #expect(QuantizationJob.parseByteSize("five") == nil)
  }
}
