import Blockwise4Bit
import DoubleQuant
import FormatFP4
import QuantCore
import TestSupport
import Testing

@Suite("FP4 against bitsandbytes 0.50 fixtures")
struct FP4FixtureTests {
  @Test("the codebook equals get_4bit_type('fp4') bit for bit")
  func codebook() throws {
    let fixture = try FixtureSafeTensors("bnb/fourbit_f32.safetensors")
    let expected = try fixture.require("code/fp4").scalars(as: Float.self)
    #expect(FP4.codebook.map(\.bitPattern) == expected.map(\.bitPattern))
    // torch.argsort order of the signed codebook (spec §2.2), with +0.0 at index 8.
    #expect(FP4.codec.quantizer.indexOfSortedPosition == [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3])
    #expect(FP4.codebook[8].bitPattern == 0)
  }

  @Test("packed bytes, absmax and dequantized values equal bitsandbytes", arguments: ["f32", "f16", "bf16"])
  func fixtures(dtypeKey: String) throws {
    let report = try FourBitFixtureHarness.run(
      quantType: "fp4", dtypeKey: dtypeKey,
      quantize: { input, blocksize, nested in try quantizeFP4(input, blocksize: blocksize, doubleQuant: nested) },
      nest: { absmax, offset in try doubleQuant(absmax: absmax, offset: offset) },
      dequantize: { tensor, dtype in try dequantizeFP4(tensor, to: dtype) })
    print("FP4 \(dtypeKey): \(report)")
    #expect(report.failures.isEmpty, "\(report.failures.prefix(10).joined(separator: "\n"))")
    #expect(report.configurations > 100)
    #expect(report.nestedCodesDifferingFromCPUKernel == report.nestedCodesDifferingFromCPUKernelInManifest)
    #expect(report.offsetDifferences == 0)
    // Only the C++ LUT (even last dimension) decodes index 8 as -0.0; we follow the Python table (+0.0).
  }
}
