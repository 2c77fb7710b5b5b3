import FormatConformance
import FormatFP8
import QuantCore
import Testing

@Suite("FP8Format")
struct FP8FormatTests {
  static let scaleModes = ["tile", "row", "tensor", "none"]

  @Test(arguments: [FP8Format.e4m3, FP8Format.e5m2])
  func conformsLikeEveryFormat(format: FP8Format) {
    let parameterSets =
      FP8FormatTests.scaleModes.map { FormatParameters(["scale": .string($0)]) }
      + [FormatParameters(["scale": .string("tile"), "tile_size": .int(32)])]
    let conformance = ConformanceSuite(
      format: format, parameterSets: parameterSets, maxRelativeRMSError: format.encoding == .e4m3 ? 0.05 : 0.1)
    let failures = conformance.run()
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test func pluginRegistersBothEncodings() throws {
    let registry = QuantRegistry()
    try registry.install(FP8Plugin())
    for name in ["fp8_e4m3", "fp8", "float8_e4m3fn", "fine_grained_fp8"] {
      #expect(try registry.format(named: name).name == "fp8_e4m3")
    }
    for name in ["fp8_e5m2", "float8_e5m2"] {
      #expect(try registry.format(named: name).name == "fp8_e5m2")
    }
    #expect(try registry.defaultParameters(forFormat: "fp8_e4m3")["overflow"] == .string("saturate"))
    #expect(try registry.defaultParameters(forFormat: "fp8_e5m2")["overflow"] == .string("ieee"))
    #expect(try registry.defaultParameters(forFormat: "fp8")["scale"] == .string("tile"))
  }
}
