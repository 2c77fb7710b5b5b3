import QuantCore
import Testing

@testable import CPUKernels

/// `productWithKMajorWeights`: x·W for W stored `[k, n]` (the frozen layers' input gradient dY·W), against a
/// double-precision reference, for every weight dtype, edge sizes of the 16/32-wide panels and the 256-deep
/// k blocks, k past one packed group, a row stride wider than n, accumulation, 1 or 2 threads, the SIMD and the
/// scalar kernel.
@Suite("CPU product with k-major weights")
struct KMajorProductTests {
  struct Case: CustomTestStringConvertible, Sendable {
    let m: Int
    let n: Int
    let k: Int
    let dtype: DType
    var testDescription: String { "m \(m) n \(n) k \(k) \(dtype)" }
  }

  static let cases: [Case] = [
    Case(m: 1, n: 1, k: 1, dtype: .float32), Case(m: 7, n: 17, k: 33, dtype: .float32),
    Case(m: 13, n: 40, k: 300, dtype: .float32), Case(m: 6, n: 16, k: 256, dtype: .bfloat16),
    Case(m: 25, n: 33, k: 513, dtype: .bfloat16), Case(m: 5, n: 70, k: 19, dtype: .float16),
    // k past one packed group (70 rows: 14 848 columns per group), as an lm_head's input gradient.
    Case(m: 70, n: 20, k: 16_000, dtype: .bfloat16),
  ]

  @Test(arguments: cases, [(1, InstructionSet.best), (2, .best), (2, .scalar)])
  func matchesTheReference(_ c: Case, run: (threads: Int, instructionSet: InstructionSet)) throws {
    let ldw = c.n + 3
    let x = (0..<(c.m * c.k)).map { Float(($0 &* 7919) % 263) / 131 - 1 }
    let stored = (0..<(c.k * ldw)).map { Float(($0 &* 104_729) % 199) / 97 - 1 }
    let weight = try Tensor(converting: stored, to: c.dtype, shape: [c.k, ldw])
    let widened = try weight.floats()
    let start = (0..<(c.m * c.n)).map { Float($0 % 5) - 2 }
    let backend = CPUBackend(threads: run.threads, instructionSet: run.instructionSet)
    for accumulate in [false, true] {
      var y = start
      x.withUnsafeBufferPointer { xs in
        weight.withUnsafeBytes { raw in
          y.withUnsafeMutableBufferPointer { ys in
            backend.productWithKMajorWeights(
              x: xs.baseAddress!, m: c.m, weight: raw.baseAddress!, dtype: c.dtype, ldw: ldw, n: c.n, k: c.k,
              into: ys.baseAddress!, accumulate: accumulate)
          }
        }
      }
      for i in 0..<c.m {
        for j in 0..<c.n {
          var sum = 0.0
          for p in 0..<c.k { sum += Double(x[i * c.k + p]) * Double(widened[p * ldw + j]) }
          if accumulate { sum += Double(start[i * c.n + j]) }
          let value = Double(y[i * c.n + j])
          #expect(abs(value - sum) <= 1e-4 * max(1, abs(sum)) + 1e-5 * Double(c.k), "\(i),\(j) accumulate \(accumulate)")
        }
      }
    }
  }
}
