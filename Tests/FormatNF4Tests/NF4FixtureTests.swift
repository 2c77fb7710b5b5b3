import Blockwise4Bit
import DoubleQuant
import FormatNF4
import QuantCore
import TestSupport
import Testing

@Suite("NF4 against bitsandbytes 0.50 fixtures")
struct NF4FixtureTests {
  @Test("the codebook equals get_4bit_type('nf4') bit for bit")
  func codebook() throws {
    let fixture = try FixtureSafeTensors("bnb/fourbit_f32.safetensors")
    let expected = try fixture.require("code/nf4").scalars(as: Float.self)
    #expect(NF4.codebook.map(\.bitPattern) == expected.map(\.bitPattern))
    #expect(NF4.codec.quantizer.indexOfSortedPosition == Array(0..<16))
  }

  @Test("packed bytes, absmax and dequantized values equal bitsandbytes", arguments: ["f32", "f16", "bf16"])
  func fixtures(dtypeKey: String) throws {
    let report = try FourBitFixtureHarness.run(
      quantType: "nf4", dtypeKey: dtypeKey,
      quantize: { input, blocksize, nested in try quantizeNF4(input, blocksize: blocksize, doubleQuant: nested) },
      nest: { absmax, offset in try doubleQuant(absmax: absmax, offset: offset) },
      dequantize: { tensor, dtype in try dequantizeNF4(tensor, to: dtype) })
    print("NF4 \(dtypeKey): \(report)")
    #expect(report.failures.isEmpty, "\(report.failures.prefix(10).joined(separator: "\n"))")
    #expect(report.configurations > 100)
    #expect(report.nestedCodesDifferingFromCPUKernel == report.nestedCodesDifferingFromCPUKernelInManifest)
    #expect(report.offsetDifferences == 0)
    #expect(report.signedZeroDifferences == 0)
  }
}
