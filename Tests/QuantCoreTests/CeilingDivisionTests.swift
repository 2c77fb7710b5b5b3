import QuantCore
import Testing

/// Block and tile counts read from files and jobs are computed without an intermediate that can overflow.
@Suite("Ceiling division for block and tile counts")
struct CeilingDivisionTests {
  @Test("matches ceil(a / b) for small values", arguments: [1, 2, 3, 64, 128])
  func small(_ divisor: Int) {
    for value in -300...300 {
      let expected = Int((Double(value) / Double(divisor)).rounded(.up))
      #expect(value.dividedRoundingUp(by: divisor) == expected, "\(value) / \(divisor)")
    }
  }

  @Test("does not trap near Int.max")
  func extremes() {
    #expect(Int.max.dividedRoundingUp(by: Int.max) == 1)
    #expect(2.dividedRoundingUp(by: Int.max) == 1)
    #expect(Int.max.dividedRoundingUp(by: 1) == Int.max)
    #expect(Int.max.dividedRoundingUp(by: 2) == Int.max / 2 + 1)
    #expect(BlockwiseCodebookQuantizer.blockCount(1 << 62, blocksize: Int.max) == 1)
  }
}
