import QuantCore
import Testing

@testable import CPUKernels

/// `CPUBackend.linearInputGradient` (`dY · W`, decoded a tile of rows at a time) against the reference's
/// whole-weight loop, for every layout, every float dtype, more rows than one tile, odd K, 1 and 2 threads.
@Suite("CPU input gradient of a quantized linear")
struct InputGradientTests {
  @Test(arguments: WeightKind.allCases)
  func matchesTheReference(kind: WeightKind) throws {
    let (n, k) = (kind == .custom ? 37 : 300, kind == .custom ? 40 : 96)
    let weight = try makeWeight(kind, n: n, k: k)
    for (m, dtype) in [(1, DType.float32), (5, .bfloat16), (3, .float16)] {
      let gradient = try makeInput(m: m, k: n, dtype: dtype, seed: 9)
      let expected = try ReferenceBackend().linearInputGradient(gradient, weight: weight)
      // Σ|dy·w| per output bounds the float32 reordering; one rounding to the dtype on top.
      let w = try weight.layout.dequantizedFloats()
      let dy = try gradient.floats()
      let rounding: Float = dtype == .float32 ? 0 : (dtype == .float16 ? 0x1p-10 : 0x1p-7)
      for backend in [simdBackend, simdBackend2, CPUBackend(threads: 1, instructionSet: .scalar)] {
        let result = try backend.linearInputGradient(gradient, weight: weight)
        #expect(result.shape == [m, k] && result.dtype == dtype)
        let values = try result.floats()
        let reference = try expected.floats()
        for row in 0..<m {
          for column in 0..<k {
            var magnitude: Float = 0
            for p in 0..<n { magnitude += abs(dy[row * n + p] * w[p * k + column]) }
            let index = row * k + column
            let tolerance = 1e-5 * magnitude + 2 * rounding * abs(reference[index])
            #expect(abs(values[index] - reference[index]) <= tolerance, "\(kind) \(dtype) m=\(m) [\(row), \(column)]")
          }
        }
      }
    }
  }

  /// Each thread owns a range of dX's columns and sums the k blocks in order, so 1, 2 and 3 threads give the
  /// same bits, with more rows than one microkernel panel, several k blocks and column ranges that split a row.
  @Test(arguments: WeightKind.allCases)
  func threadCountDoesNotChangeTheBits(kind: WeightKind) throws {
    let (n, k) = (kind == .custom ? 37 : 520, kind == .custom ? 40 : 160)
    let weight = try makeWeight(kind, n: n, k: k, seed: 5)
    let gradient = try makeInput(m: 13, k: n, dtype: .float32, seed: 3)
    let one = try simdBackend.linearInputGradient(gradient, weight: weight).floats()
    for threads in [2, 3] {
      let many = try CPUBackend(threads: threads, instructionSet: .best).linearInputGradient(gradient, weight: weight)
      #expect(try many.floats().map(\.bitPattern) == one.map(\.bitPattern), "\(kind), \(threads) threads")
    }
  }

  /// W's rows past one packed group of dY (300 rows: 3 328 per group): the groups continue each output's sum.
  @Test func severalGroupsOfWeightRows() throws {
    let (m, n, k) = (300, 4000, 64)
    let weight = try makeWeight(.nf4, n: n, k: k, seed: 8)
    let gradient = try makeInput(m: m, k: n, dtype: .float32, seed: 4)
    let reference = try ReferenceBackend().linearInputGradient(gradient, weight: weight).floats()
    let w = try weight.layout.dequantizedFloats()
    let dy = try gradient.floats()
    let one = try simdBackend.linearInputGradient(gradient, weight: weight).floats()
    let three = try CPUBackend(threads: 3, instructionSet: .best).linearInputGradient(gradient, weight: weight).floats()
    #expect(three.map(\.bitPattern) == one.map(\.bitPattern))
    for row in stride(from: 0, to: m, by: 37) {
      for column in 0..<k {
        var magnitude: Float = 0
        for p in 0..<n { magnitude += abs(dy[row * n + p] * w[p * k + column]) }
        let index = row * k + column
        #expect(abs(one[index] - reference[index]) <= 1e-5 * magnitude, "[\(row), \(column)]")
      }
    }
  }

  @Test func badShapesAreRefused() throws {
    let weight = try makeWeight(.nf4, n: 8, k: 64)
    #expect(throws: QuantError.self) {
      try simdBackend.linearInputGradient(try makeInput(m: 2, k: 9, dtype: .float32), weight: weight)
    }
    #expect(try simdBackend.linearInputGradient(try makeInput(m: 0, k: 8, dtype: .float32), weight: weight).shape == [0, 64])
  }
}
