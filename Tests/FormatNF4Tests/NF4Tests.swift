import FormatConformance
import FormatNF4
import QuantCore
import TestSupport
import Testing

/// NF4 is the shared 4-bit machinery with its codebook: its tests are the shared checks
/// (`FourBitCheck`) on its table, error bars and fixtures.
@Suite("NF4 behaviour")
struct NF4Tests {
  /// bitsandbytes' test_4bit_quant (μ, σ) of mean absolute and relative error for randn, per blocksize.
  static let subject = FourBitCodebookSubject<NF4>(
    bars: [
      32: ((0.067746, 0.000069), (0.189726, 0.000304)), 64: ((0.072798, 0.000074), (0.203339, 0.000340)),
      128: ((0.076831, 0.000091), (0.215237, 0.000391)), 256: ((0.080337, 0.000102), (0.226105, 0.000398)),
      512: ((0.083547, 0.000143), (0.236079, 0.000544)), 1024: ((0.086610, 0.000187), (0.245370, 0.000600)),
      2048: ((0.089592, 0.000251), (0.254163, 0.000747)), 4096: ((0.092547, 0.000360), (0.262473, 0.000999)),
    ],
    foreignQuantMap: FP4CodebookForTests.values, fixtureKey: "nf4", sortedOrder: Array(0..<16),
    checkpoint: (variant: "tiny-llama-bnb-nf4-dq", doubleQuant: true), signedZerosMatch: true, maxRelativeRMSError: 0.12)

  @Test("NF4: every shared 4-bit codebook check", arguments: FourBitCheck.allCases)
  func behaves(_ check: FourBitCheck) throws {
    let failures = try check.run(on: Self.subject)
    #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
  }
}

/// FP4's codebook, to plant a wrong `quant_map` (this target does not import FormatFP4).
enum FP4CodebookForTests {
  static let values: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3].map { $0 / 12 }
}
