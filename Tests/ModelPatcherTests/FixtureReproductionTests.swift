import BitsAndBytes
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

/// Quantizing `Examples/tiny-llama` reproduces the checkpoints transformers + bitsandbytes wrote.
@Suite("Reproducing transformers' bitsandbytes checkpoints")
struct FixtureReproductionTests {
  struct Variant: Sendable, CustomTestStringConvertible {
    var folder: String
    var quantization: BitsAndBytesConfig
    var testDescription: String { folder }
  }

  static let allVariants = [
    Variant(
      folder: "tiny-llama-bnb-nf4-dq",
      quantization: BitsAndBytesConfig(
        loadIn4bit: true, bnb4bitComputeDType: .bfloat16, bnb4bitQuantType: .nf4, bnb4bitUseDoubleQuant: true)),
    Variant(
      folder: "tiny-llama-bnb-fp4",
      quantization: BitsAndBytesConfig(loadIn4bit: true, bnb4bitComputeDType: .float16, bnb4bitQuantType: .fp4)),
    Variant(folder: "tiny-llama-bnb-int8", quantization: BitsAndBytesConfig(loadIn8bit: true)),
  ]

  static let registry: QuantRegistry? = try? StandardRegistry.make()

  /// The variants whose format this build registers.
  static var variants: [Variant] {
    allVariants.filter { variant in (try? registry?.format(named: variant.quantization.formatName)) != nil }
  }

  @Test("Byte-identical weights and config.json", arguments: variants)
  func reproducesCheckpoint(_ variant: Variant) async throws {
    let registry = try #require(FixtureReproductionTests.registry)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appending(path: variant.folder)
    let job = QuantizationJob(model: TestFiles.tinyLlama, output: output, quantization: variant.quantization)
    let summary = try await CheckpointPatcher(registry: registry).quantizeModel(job)
    #expect(summary.quantizedTensors == 14 && summary.keptTensors == 7)
    let expected = TestFiles.fixture("hf/\(variant.folder)")
    #expect(
      try String(contentsOf: output.appending(path: "config.json"), encoding: .utf8)
        == String(contentsOf: expected.appending(path: "config.json"), encoding: .utf8))
    #expect(
      try Data(contentsOf: output.appending(path: "generation_config.json"))
        == Data(contentsOf: expected.appending(path: "generation_config.json")))
    #expect(
      try TestFiles.contents(of: output) == [
        "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
        "tokenizer_config.json",
      ])
    let ours = try SafeTensorsFile(contentsOf: output.appending(path: "model.safetensors"))
    let theirs = try SafeTensorsFile(contentsOf: expected.appending(path: "model.safetensors"))
    #expect(ours.tensorNames == theirs.tensorNames)
    var differences = false
    for name in theirs.tensorNames {
      let mine = try #require(try ours.tensor(named: name))
      let reference = try #require(try theirs.tensor(named: name))
      #expect(mine.dtype == reference.dtype && mine.shape == reference.shape, "\(name)")
      guard mine.bytes != reference.bytes else { continue }
      if name.contains(".quant_state.bitsandbytes__") {
        // Only the nested offset (a torch mean) may differ, by at most one ulp.
        let a = try JSONParser.parse(bytes: mine.bytes)
        let b = try JSONParser.parse(bytes: reference.bytes)
        let x = try #require(a["nested_offset"]?.numberValue?.doubleValue.map(Float.init))
        let y = try #require(b["nested_offset"]?.numberValue?.doubleValue.map(Float.init))
        #expect(x == y.nextUp || x == y.nextDown, "\(name): nested_offset \(x) vs \(y)")
        differences = true
      } else if name.hasSuffix(".absmax") && mine.dtype == .uint8 {
        // Double-quantized absmax codes: bitsandbytes on CPU nests with its 65536-bin lookup-table kernel
        // (Tests/Fixtures/README.md, "Which 8-bit quantizer nests the absmax on CPU"), which lands one
        // index off the exact nearest code in a few blocks; we follow the default (exact) rule. Any other
        // difference is a bug.
        let pairs = zip(mine.bytes, reference.bytes).filter { $0 != $1 }
        #expect(pairs.allSatisfy { abs(Int($0) - Int($1)) == 1 }, "\(name): \(pairs)")
        #expect(pairs.count * 100 <= mine.byteCount, "\(name): \(pairs.count) of \(mine.byteCount) codes differ")
        differences = true
      } else {
        Issue.record("\(name) differs from the transformers checkpoint")
      }
    }
    if !differences {
      #expect(
        try Data(contentsOf: output.appending(path: "model.safetensors"))
          == Data(contentsOf: expected.appending(path: "model.safetensors")))
    }
  }

  @Test func cpuNestingRuleReproducesTheNF4CheckpointByteForByte() async throws {
    let registry = try #require(FixtureReproductionTests.registry)
    let spec = try registry.format(named: "nf4").parameterSpec(named: "double_quant_rule")
    try #require(spec != nil, "this build's nf4 has no double_quant_rule")
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let variant = FixtureReproductionTests.allVariants[0]
    var job = QuantizationJob(
      model: TestFiles.tinyLlama, output: folder.appending(path: "out"), quantization: variant.quantization)
    job.parameters["double_quant_rule"] = .string("cpu")
    _ = try await CheckpointPatcher(registry: registry).quantizeModel(job)
    let expected = TestFiles.fixture("hf/\(variant.folder)")
    for file in ["model.safetensors", "config.json"] {
      #expect(
        try Data(contentsOf: folder.appending(path: "out/\(file)")) == Data(contentsOf: expected.appending(path: file)), "\(file)"
      )
    }
  }

  @Test("Dequantizing equals bitsandbytes' decode of the stored tensors", arguments: variants)
  func dequantizesFixture(_ variant: Variant) async throws {
    let registry = try #require(FixtureReproductionTests.registry)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = TestFiles.fixture("hf/\(variant.folder)")
    let output = folder.appending(path: "dequantized")
    let patcher = CheckpointPatcher(registry: registry)
    let summary = try await patcher.dequantizeCheckpoint(at: input, to: output)
    #expect(summary.quantizedTensors == 14)
    let decoded = try SafeTensorsFile(contentsOf: output.appending(path: "model.safetensors"))
    let stored = try SafeTensorsFile(contentsOf: input.appending(path: "model.safetensors"))
    let original = try SafeTensorsFile(contentsOf: TestFiles.tinyLlama.appending(path: "model.safetensors"))
    #expect(decoded.tensorNames.sorted() == original.tensorNames.sorted())
    for name in original.tensorNames {
      let tensor = try #require(try decoded.tensor(named: name))
      #expect(tensor.dtype == .float16 && tensor.shape == original.entry(named: name)?.shape, "\(name)")
      let expected = try FixtureReproductionTests.bitsandbytesDecode(name, from: stored)
      #expect(tensor.bytes == expected.bytes, "\(name)")
    }
    let config = try String(contentsOf: output.appending(path: "config.json"), encoding: .utf8)
    #expect(!config.contains("quantization_config"))
    #expect(config == (try String(contentsOf: TestFiles.tinyLlama.appending(path: "config.json"), encoding: .utf8)))
  }

  /// bitsandbytes' dequantization written out from the spec, straight from the stored tensors:
  /// 4-bit `fp16(code[nibble] · absmax[block])` with the nested absmax `code2[q]·absmax2 + offset`;
  /// int8 `fp16(CB · SCB · fl32(1/127))`.
  static func bitsandbytesDecode(_ name: String, from file: SafeTensorsFile) throws -> Tensor {
    if let state = try file.tensor(named: name + ".quant_state.bitsandbytes__nf4")
      ?? file.tensor(named: name + ".quant_state.bitsandbytes__fp4")
    {
      let json = try JSONParser.parse(bytes: state.bytes)
      let shape = try #require(json["shape"]?.elements?.compactMap { $0.numberValue?.intValue })
      let blocksize = try #require(json["blocksize"]?.numberValue?.intValue)
      let packed = try #require(try file.tensor(named: name)).bytes
      let code = try #require(try file.tensor(named: name + ".quant_map")).floats()
      var absmax: [Float]
      if let offset = json["nested_offset"]?.numberValue?.doubleValue {
        let codes = try #require(try file.tensor(named: name + ".absmax")).bytes
        let code2 = try #require(try file.tensor(named: name + ".nested_quant_map")).floats()
        let absmax2 = try #require(try file.tensor(named: name + ".nested_absmax")).floats()
        let nestedBlock = try #require(json["nested_blocksize"]?.numberValue?.intValue)
        absmax = codes.indices.map { i in
          let scaled = code2[Int(codes[i])] * absmax2[i / nestedBlock]
          return scaled + Float(offset)
        }
      } else {
        absmax = try #require(try file.tensor(named: name + ".absmax")).floats()
      }
      let count = shape.reduce(1, *)
      let values = (0..<count).map { i -> Float in
        let byte = packed[i / 2]
        let nibble = i % 2 == 0 ? byte >> 4 : byte & 0x0F
        return code[Int(nibble)] * absmax[i / blocksize]
      }
      return try Tensor(converting: values, to: .float16, shape: shape)
    }
    if let scb = try file.tensor(named: String(name.dropLast("weight".count)) + "SCB") {
      let weight = try #require(try file.tensor(named: name))
      let rows = try scb.floats()
      let codes = try weight.scalars(as: Int8.self)
      let columns = weight.shape[1]
      let scale = Float(7.874015718698502e-3)
      let values = codes.indices.map { i in Float(codes[i]) * rows[i / columns] * scale }
      return try Tensor(converting: values, to: .float16, shape: weight.shape)
    }
    return try #require(try file.tensor(named: name))
  }
}
