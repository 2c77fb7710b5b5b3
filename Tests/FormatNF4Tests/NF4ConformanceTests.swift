import FormatConformance
import FormatNF4
import QuantCore
import Testing

@Suite("NF4 conformance")
struct NF4ConformanceTests {
  @Test("NF4Format passes the shared format conformance checks, plain and double-quantized")
  func conforms() {
    let conformance = ConformanceSuite(
      format: NF4Format(),
      parameterSets: [
        FormatParameters(),
        FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]),
      ],
      maxRelativeRMSError: 0.12)
    let failures = conformance.run()
    #expect(failures.isEmpty, "\(failures)")
  }
}
