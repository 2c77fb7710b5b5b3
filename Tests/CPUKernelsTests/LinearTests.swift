import QuantCore
import Testing

@testable import CPUKernels

/// The float32 summation bound: |computed − exact| ≤ γ · Σ|x||w| with γ = (K + 4) · 2⁻²³ (any order).
func summationBound(x: [Float], w: [Float], m: Int, n: Int, k: Int) -> [Float] {
  let gamma = Float(k + 4) * 0x1p-23
  var bounds = [Float](repeating: 0, count: m * n)
  for row in 0..<m {
    for column in 0..<n {
      var sum: Float = 0
      for i in 0..<k { sum += abs(x[row * k + i] * w[column * k + i]) }
      bounds[row * n + column] = gamma * sum
    }
  }
  return bounds
}

/// Checks `found` against `expected` within `bound` plus one rounding of the output dtype.
func expectClose(
  _ found: Tensor, _ expected: Tensor, bound: [Float], _ context: String,
  sourceLocation: Testing.SourceLocation = #_sourceLocation
) throws {
  #expect(found.shape == expected.shape, sourceLocation: sourceLocation)
  let a = try found.floats()
  let b = try expected.floats()
  let ulp: Float =
    switch found.dtype {
    case .float16: 0x1p-10
    case .bfloat16: 0x1p-7
    default: 0
    }
  var worst: (Float, Int) = (0, -1)
  for i in a.indices {
    let excess = abs(a[i] - b[i]) - (bound[i] * (1 + ulp) + abs(b[i]) * ulp + 1e-30)
    if excess > worst.0 { worst = (excess, i) }
  }
  #expect(worst.1 == -1, "\(context): element \(worst.1) off by \(worst.0) beyond the bound", sourceLocation: sourceLocation)
}

@Suite("CPU linear")
struct LinearTests {
  /// Edge shapes: K with a partial block, odd N, K not a multiple of 32, K that is.
  static let shapes: [(n: Int, k: Int)] = [(13, 96), (9, 100), (4, 256)]
  static let rowCounts = [1, 2, 7, 8, 9, 33]

  @Test("exact mode matches dequantize → float32 matmul (float32 activations)", arguments: WeightKind.allCases)
  func exactFloat32(kind: WeightKind) throws {
    for shape in LinearTests.shapes {
      let weight = try makeWeight(kind, n: shape.n, k: shape.k)
      let w = try weight.layout.dequantizedFloats()
      for m in LinearTests.rowCounts {
        let input = try makeInput(m: m, k: shape.k, dtype: .float32)
        let expected = try ReferenceBackend().linear(input, weight: weight, bias: nil)
        let bound = summationBound(x: try input.floats(), w: w, m: m, n: shape.n, k: shape.k)
        var outputs: [Tensor] = []
        for backend in [scalarBackend, simdBackend, simdBackend2] {
          let found = try backend.linear(input, weight: weight, bias: nil)
          try expectClose(found, expected, bound: bound, "\(kind) \(shape) m=\(m) \(backend.instructionSet)")
          outputs.append(found)
        }
        #expect(outputs[1].bytes == outputs[2].bytes, "1 and 2 threads differ: \(kind) \(shape) m=\(m)")
      }
    }
  }

  @Test("float16 and bfloat16 activations, with bias", arguments: WeightKind.allCases)
  func halfActivations(kind: WeightKind) throws {
    let (n, k) = (11, 128)
    let weight = try makeWeight(kind, n: n, k: k)
    let w = try weight.layout.dequantizedFloats()
    let bias = try Tensor(converting: (0..<n).map { Float($0) / 4 - 1 }, to: .bfloat16, shape: [n])
    for dtype in [DType.float16, .bfloat16] {
      for m in [1, 9] {
        let input = try makeInput(m: m, k: k, dtype: dtype)
        let expected = try ReferenceBackend().linear(input, weight: weight, bias: bias)
        let bound = summationBound(x: try input.floats(), w: w, m: m, n: n, k: k)
        for backend in [scalarBackend, simdBackend, simdBackend2] {
          let found = try backend.linear(input, weight: weight, bias: bias)
          #expect(found.dtype == dtype)
          try expectClose(found, expected, bound: bound, "\(kind) \(dtype) m=\(m) \(backend.instructionSet)")
        }
      }
    }
  }

  @Test("batched input shapes keep their leading dimensions")
  func leadingDimensions() throws {
    let weight = try makeWeight(.nf4, n: 6, k: 64)
    let input = try makeInput(m: 6, k: 64, dtype: .float32).reshaped([2, 3, 64])
    let found = try simdBackend.linear(input, weight: weight, bias: nil)
    #expect(found.shape == [2, 3, 6])
  }

  @Test("rejects mismatched input features")
  func rejectsMismatch() throws {
    let weight = try makeWeight(.int8, n: 4, k: 32)
    let input = try makeInput(m: 1, k: 31, dtype: .float32)
    #expect(throws: QuantError.self) { try simdBackend.linear(input, weight: weight, bias: nil) }
  }
}
