import QuantCore
import Testing

@testable import CPUKernels

@Suite("CPU fast mode")
struct FastModeTests {
  /// The fast mode's error bound per output: weights use the codebook rounded to int8 (error ≤ half a
  /// step of `max|code| / 127` times the block's absmax) and activations are rounded to int8 per group of
  /// 32 (error ≤ half a step of `max|x_group| / 127`); products of the two errors are included.
  static func bound(x: [Float], weight: QuantizedTensor, m: Int, n: Int, k: Int) throws -> [Float] {
    guard case .codebook4Bit(_, let state) = weight.layout else { return [] }
    let scales = state.absmax.decoded()
    let codeStep = (state.code.map(abs).max() ?? 0) / 127
    let w = try weight.layout.dequantizedFloats()
    var result = [Float](repeating: 0, count: m * n)
    for row in 0..<m {
      var groupStep = [Float](repeating: 0, count: k / 32)
      for g in 0..<(k / 32) { groupStep[g] = (x[(row * k + g * 32)..<(row * k + g * 32 + 32)].map(abs).max() ?? 0) / 127 }
      for column in 0..<n {
        var sum: Float = 0
        for i in 0..<k {
          let absmax = scales[(column * k + i) / state.blocksize]
          let dw = absmax * codeStep / 2
          let dx = groupStep[i / 32] / 2
          sum += abs(x[row * k + i]) * dw + (abs(w[column * k + i]) + dw) * dx
        }
        result[row * n + column] = sum * 1.01 + Float(k) * 0x1p-20 * sum
      }
    }
    return result
  }

  @Test("stays within its stated error bound", arguments: [WeightKind.nf4, .fp4, .nf4Nested])
  func withinBound(kind: WeightKind) throws {
    let (n, k) = (10, 320)
    let weight = try makeWeight(kind, n: n, k: k)
    for m in [1, 2, 7, 8] {
      let input = try makeInput(m: m, k: k, dtype: .float32)
      let exact = try simdBackend.linear(input, weight: weight, bias: nil).floats()
      let bound = try FastModeTests.bound(x: input.floats(), weight: weight, m: m, n: n, k: k)
      var outputs: [[Float]] = []
      for isa in [InstructionSet.scalar, .best] {
        for threads in [1, 2] {
          let fast = CPUBackend(threads: threads, mode: .fast, instructionSet: isa)
          let y = try fast.linear(input, weight: weight, bias: nil).floats()
          for i in y.indices {
            #expect(abs(y[i] - exact[i]) <= bound[i], "\(kind) m=\(m) \(isa) element \(i)")
          }
          outputs.append(y)
        }
      }
      #expect(outputs[2] == outputs[3], "fast mode: 1 and 2 threads differ")
      // Every ISA's kernel (AVX2, AVX-512 VNNI) makes the scalar path's integer dot products: only the order
      // in which the scales are applied differs, far below the quantization error.
      let scale = outputs[0].map(abs).max() ?? 1
      for i in outputs[0].indices {
        #expect(abs(outputs[2][i] - outputs[0][i]) <= 1e-5 * scale, "\(kind) m=\(m) element \(i): SIMD vs scalar fast")
      }
      // The fast path must actually differ from exact somewhere (it quantizes activations).
      #expect(outputs[2] != exact)
    }
  }
}
