import QuantCore
import Testing

@testable import CPUKernels

/// The dense kernels against a float64-accumulated reference.
///
/// Tolerance: float32 accumulation in any order is within `(K + 4) · 2⁻²³ · Σ|x||w|` of the exact sum
/// (the float64 sum of the exactly widened operands), plus one rounding of a half-precision output.
@Suite("CPU dense linear")
struct DenseLinearTests {
  static func reference(x: [Float], w: [Float], bias: [Float]?, m: Int, n: Int, k: Int) -> [Float] {
    var y = [Float](repeating: 0, count: m * n)
    for row in 0..<m {
      for column in 0..<n {
        var sum = 0.0
        for i in 0..<k { sum += Double(x[row * k + i]) * Double(w[column * k + i]) }
        y[row * n + column] = Float(sum + Double(bias?[column] ?? 0))
      }
    }
    return y
  }

  @Test("GEMV and GEMM match the float64 reference", arguments: [DType.float32, .float16, .bfloat16])
  func matchesReference(weightType: DType) throws {
    for (n, k) in [(37, 100), (70, 300), (16, 256), (5, 7)] {
      let weight = try makeDenseWeight(n: n, k: k, dtype: weightType)
      let w = try weight.floats()
      for m in [1, 2, 8, 9, 13, 40] {
        for inputType in [DType.float32, .bfloat16] {
          let input = try makeInput(m: m, k: k, dtype: inputType)
          let x = try input.floats()
          let expected = try Tensor(
            converting: DenseLinearTests.reference(x: x, w: w, bias: nil, m: m, n: n, k: k), to: .float32, shape: [m, n])
          let bound = summationBound(x: x, w: w, m: m, n: n, k: k)
          for backend in [scalarBackend, simdBackend, simdBackend2] {
            let found = try backend.denseLinear(input, weight: weight, bias: nil)
            #expect(found.dtype == inputType)
            try expectClose(found, expected, bound: bound, "\(weightType) \(n)x\(k) m=\(m) \(backend.instructionSet)")
          }
        }
      }
    }
  }

  @Test("bias, leading dimensions, and the protocol's reference default agree")
  func biasAndShapes() throws {
    let (n, k) = (21, 64)
    let weight = try makeDenseWeight(n: n, k: k, dtype: .bfloat16)
    let bias = try Tensor(converting: (0..<n).map { Float($0) / 8 - 1 }, to: .float16, shape: [n])
    let input = try makeInput(m: 12, k: k, dtype: .float32).reshaped([3, 4, k])
    let found = try simdBackend2.denseLinear(input, weight: weight, bias: bias)
    #expect(found.shape == [3, 4, n])
    let reference = try ReferenceBackend().denseLinear(input, weight: weight, bias: bias)
    let x = try input.floats()
    let w = try weight.floats()
    let bound = summationBound(x: x, w: w, m: 12, n: n, k: k).map { $0 + 1e-6 }
    try expectClose(found, reference, bound: bound, "bias")
    let backends: [any KernelBackend] = [simdBackend2]
    #expect(try backends[0].denseLinear(input, weight: weight, bias: bias).bytes == found.bytes)
  }

  @Test("rejects bad shapes and dtypes")
  func rejects() throws {
    let weight = try makeDenseWeight(n: 4, k: 32, dtype: .float32)
    #expect(throws: QuantError.self) {
      try simdBackend.denseLinear(makeInput(m: 1, k: 31, dtype: .float32), weight: weight, bias: nil)
    }
    let flat = try weight.reshaped([128])
    #expect(throws: QuantError.self) {
      try simdBackend.denseLinear(makeInput(m: 1, k: 32, dtype: .float32), weight: flat, bias: nil)
    }
    let int8 = try Tensor(dtype: .int8, shape: [4, 32], bytes: [UInt8](repeating: 1, count: 128))
    #expect(throws: QuantError.self) {
      try simdBackend.denseLinear(makeInput(m: 1, k: 32, dtype: .float32), weight: int8, bias: nil)
    }
    let bias = try Tensor(converting: [1, 2, 3], to: .float32, shape: [3])
    #expect(throws: QuantError.self) {
      try simdBackend.denseLinear(makeInput(m: 1, k: 32, dtype: .float32), weight: weight, bias: bias)
    }
  }
}

@Suite("CPU fp8 special codes")
struct Float8SpecialCodeTests {
  @Test("a NaN weight code gives NaN in every kernel, other rows stay finite")
  func nanCodes() throws {
    for encoding in [Float8Encoding.e4m3, .e5m2] {
      let (n, k) = (4, 64)
      var bytes = [UInt8](repeating: 0x38, count: n * k)
      bytes[k + 5] = encoding == .e4m3 ? 0xFF : 0x7F
      let values = try Tensor(dtype: encoding.dtype, shape: [n, k], bytes: bytes)
      let weight = QuantizedTensor(
        format: "fp8", shape: [n, k], originalDType: .bfloat16,
        layout: .float8(Float8Weights(values: values, encoding: encoding, scales: .rows([1, 2, 3, 4]))))
      let input = try makeInput(m: 1, k: k, dtype: .float32)
      for backend in [scalarBackend, simdBackend, simdBackend2] {
        let y = try backend.linear(input, weight: weight, bias: nil).floats()
        #expect(y[1].isNaN, "\(encoding) \(backend.instructionSet)")
        #expect(y[0].isFinite && y[2].isFinite && y[3].isFinite)
      }
    }
  }
}
