import FormatConformance
import FormatFP4
import QuantCore
import TestSupport
import Testing

/// FP4 is the shared 4-bit machinery with its codebook: its tests are the shared checks
/// (`FourBitCheck`) on its table, error bars and fixtures.
@Suite("FP4 behaviour")
struct FP4Tests {
  /// bitsandbytes' test_4bit_quant (μ, σ) of mean absolute and relative error for randn, per blocksize.
  static let subject = FourBitCodebookSubject<FP4>(
    bars: [
      32: ((0.088925, 0.000091), (0.242443, 0.000330)), 64: ((0.096543, 0.000111), (0.260125, 0.000379)),
      128: ((0.102969, 0.000134), (0.275817, 0.000433)), 256: ((0.108684, 0.000182), (0.289831, 0.000497)),
      512: ((0.114115, 0.000234), (0.302881, 0.000583)), 1024: ((0.119333, 0.000320), (0.315000, 0.000757)),
      2048: ((0.124556, 0.000455), (0.326607, 0.000955)), 4096: ((0.129536, 0.000612), (0.337169, 0.001239)),
    ],
    foreignQuantMap: NF4CodebookForTests.values, fixtureKey: "fp4",
    sortedOrder: [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3],
    checkpoint: (variant: "tiny-llama-bnb-fp4", doubleQuant: false), signedZerosMatch: false, maxRelativeRMSError: 0.16)

  @Test("FP4: every shared 4-bit codebook check", arguments: FourBitCheck.allCases)
  func behaves(_ check: FourBitCheck) throws {
    let failures = try check.run(on: Self.subject)
    #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
  }
}

/// NF4's codebook, to plant a wrong `quant_map` (this target does not import FormatNF4).
enum NF4CodebookForTests {
  static let values: [Float] = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ]
}
