import DoubleQuant
import FormatConformance
import QuantCore
import Testing

@Suite("blockwise8 conformance")
struct Blockwise8ConformanceTests {
  @Test("Blockwise8Format passes the shared format conformance checks with both maps")
  func conforms() {
    let conformance = ConformanceSuite(
      format: Blockwise8Format(),
      parameterSets: [
        FormatParameters(["blocksize": .int(64)]), FormatParameters(["blocksize": .int(256), "map": .string("signed")]),
      ],
      maxRelativeRMSError: 0.02)
    let failures = conformance.run()
    #expect(failures.isEmpty, "\(failures)")
  }
}
