import FormatConformance
import FormatFP4
import QuantCore
import Testing

@Suite("FP4 conformance")
struct FP4ConformanceTests {
  @Test("FP4Format passes the shared format conformance checks, plain and double-quantized")
  func conforms() {
    let conformance = ConformanceSuite(
      format: FP4Format(),
      parameterSets: [
        FormatParameters(),
        FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]),
      ],
      maxRelativeRMSError: 0.16)
    let failures = conformance.run()
    #expect(failures.isEmpty, "\(failures)")
  }
}
