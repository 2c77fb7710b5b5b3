import FormatConformance
import MetalEmulator
import MetalKernels
import QuantCore
import TestSupport
import Testing

/// One dequantize case: a layout variant, a weight shape and an output dtype.
struct DequantizeCase: Sendable, CustomTestStringConvertible {
  var variant: LayoutVariant
  var rows: Int
  var columns: Int
  var dtype: DType
  var testDescription: String { "\(variant) [\(rows), \(columns)] → \(dtype)" }
}

/// One linear case: `[M, K] · [N, K]ᵀ (+ bias)` with a layout variant and an activation dtype.
struct LinearCase: Sendable, CustomTestStringConvertible {
  var variant: LayoutVariant
  var m: Int
  var n: Int
  var k: Int
  var dtype: DType
  var bias: Bool
  var testDescription: String { "\(variant) M=\(m) N=\(n) K=\(k) \(dtype)\(bias ? " +bias" : "")" }
}

let activationTypes: [DType] = [.float32, .float16, .bfloat16]

/// Weight shapes `[N, K]`: rows not a multiple of 8, K with partial blocks, odd K, one realistic size.
let weightShapes: [(Int, Int)] = [
  (1, 64), (8, 64), (13, 128), (37, 256), (9, 512), (64, 1024), (5, 100), (11, 96), (3, 33), (17, 48), (7, 80),
  (1, 16), (40, 160), (96, 1024),
]

let dequantizeCases: [DequantizeCase] = LayoutVariant.allCases.flatMap { variant in
  weightShapes.enumerated().map { index, shape in
    DequantizeCase(variant: variant, rows: shape.0, columns: shape.1, dtype: activationTypes[index % 3])
  }
}

/// GEMV (M ≤ 8) and GEMM (M > 8) cases; every variant meets every activation dtype several times.
let linearCases: [LinearCase] = LayoutVariant.allCases.enumerated().flatMap { variantIndex, variant in
  let tokenCounts = [1, 2, 7, 8, 1, 3, 1, 9, 33, 12, 17, 40]
  return weightShapes.enumerated().flatMap { shapeIndex, shape -> [LinearCase] in
    let m = tokenCounts[(shapeIndex + variantIndex) % tokenCounts.count]
    let largeGemm = shape.0 * shape.1 > 60_000 && m > 8
    return activationTypes.map { dtype in
      LinearCase(
        variant: variant, m: largeGemm ? 9 : m, n: shape.0, k: shape.1, dtype: dtype,
        bias: (shapeIndex + variantIndex) % 2 == 0)
    }
  }
}

@Suite("Emulated Metal kernels", .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
struct EmulatedKernelTests {
  @Test("dequantize matches the reference bit for bit", arguments: dequantizeCases)
  func dequantize(_ testCase: DequantizeCase) throws {
    let kernels = try EmulatedKernels.shared()
    let seed = UInt64(testCase.rows * 7919 + testCase.columns) &* 31 &+ UInt64(testCase.variant.rawValue.utf8.count)
    let tensor = try testCase.variant.weights(rows: testCase.rows, columns: testCase.columns, seed: seed)
    let expected = try ReferenceBackend().dequantize(tensor, to: testCase.dtype).bytes
    let weights = try PreparedWeights(tensor)
    let dispatch = try KernelDispatchPlan.dequantize(weights, to: testCase.dtype)
    for order in LaneOrder.allCases {
      let result = try kernels.run(dispatch, weights: weights, outputBytes: expected.count, laneOrder: order)
      if result != expected {
        let index = result.indices.first { result[$0] != expected[$0] } ?? 0
        Issue.record("\(dispatch.functionName) (\(order)): first differing byte \(index) of \(expected.count)")
      }
    }
  }

  @Test("GEMV and GEMM match a double-precision reference within tolerance", arguments: linearCases)
  func linear(_ testCase: LinearCase) throws {
    try checkLinear(testCase, activationScale: 1)
  }

  @Test(
    "float32 and bfloat16 activations far beyond the float16 range are not saturated",
    arguments: [1, 33].flatMap { m in
      [DType.float32, .bfloat16].map {
        LinearCase(variant: .nf4NestedBlocksize64, m: m, n: 24, k: 128, dtype: $0, bias: false)
      }
    })
  func wideActivations(_ testCase: LinearCase) throws {
    try checkLinear(testCase, activationScale: 1e6)
  }

  /// `dY [M, N] · W [N, K]` (training's input gradient) for every layout, with tails in M, N and K.
  @Test(
    "the input-gradient GEMM matches a double-precision reference within tolerance",
    arguments: LayoutVariant.allCases.enumerated().flatMap { index, variant in
      [(1, 13, 128), (9, 40, 160), (33, 37, 256), (40, 96, 1024)].enumerated().map { shapeIndex, shape in
        LinearCase(
          variant: variant, m: shape.0, n: shape.1, k: shape.2, dtype: activationTypes[(index + shapeIndex) % 3],
          bias: false)
      }
    })
  func inputGradient(_ testCase: LinearCase) throws {
    let kernels = try EmulatedKernels.shared()
    let (m, n, k) = (testCase.m, testCase.n, testCase.k)
    let seed = UInt64(m * 1_000_033 + n * 7907 + k) &+ UInt64(testCase.variant.rawValue.utf8.count)
    let tensor = try testCase.variant.weights(rows: n, columns: k, seed: seed)
    let gradient = try randomActivations(rows: m, columns: n, dtype: testCase.dtype, seed: seed &+ 1)
    let w = try tensor.layout.dequantizedFloats()
    let dy = try gradient.floats()
    var expected = [Double](repeating: 0, count: m * k)
    var magnitude = expected
    for row in 0..<m {
      for p in 0..<n {
        let g = Double(dy[row * n + p])
        for column in 0..<k {
          let term = g * Double(w[p * k + column])
          expected[row * k + column] += term
          magnitude[row * k + column] += abs(term)
        }
      }
    }
    let rounding = BackendComparison.outputRounding(testCase.dtype)
    let weights = try PreparedWeights(tensor)
    let dispatch = try KernelDispatchPlan.inputGradient(weights, tokens: m, activation: testCase.dtype)
    #expect(dispatch.threadgroups == KernelGridSize((k + 31) / 32, (m + 31) / 32))
    for order in LaneOrder.allCases {
      let bytes = try kernels.run(
        dispatch, weights: weights, input: gradient, outputBytes: m * k * testCase.dtype.byteSize, laneOrder: order)
      let result = try decodeFloats(bytes, dtype: testCase.dtype, count: m * k)
      let failures = (0..<(m * k)).filter { i in
        !(abs(Double(result[i]) - expected[i]) <= 1e-5 * magnitude[i] + rounding * abs(expected[i]) + 1e-30)
      }
      #expect(
        failures.isEmpty,
        "\(dispatch.functionName) (\(order)): \(failures.count) of \(m * k) outside tolerance, first \(failures.first.map { "\($0): \(result[$0]) vs \(expected[$0])" } ?? "")"
      )
    }
  }

  private func checkLinear(_ testCase: LinearCase, activationScale: Float) throws {
    let kernels = try EmulatedKernels.shared()
    let (m, n, k) = (testCase.m, testCase.n, testCase.k)
    let seed = UInt64(m * 1_000_003 + n * 7919 + k) &+ UInt64(testCase.variant.rawValue.utf8.count)
    let tensor = try testCase.variant.weights(rows: n, columns: k, seed: seed)
    var input = try randomActivations(rows: m, columns: k, dtype: testCase.dtype, seed: seed &+ 1)
    if activationScale != 1 {
      input = try Tensor(converting: input.floats().map { $0 * activationScale }, to: testCase.dtype, shape: input.shape)
    }
    var generator = SeededNormal(seed: seed &+ 2)
    let bias = testCase.bias ? (0..<n).map { _ in Float.random(in: -1...1, using: &generator) } : nil

    // Reference: exact products in double, then the tolerance of float accumulation and one output rounding.
    let w = try tensor.layout.dequantizedFloats()
    let x = try input.floats()
    var expected = [Double](repeating: 0, count: m * n)
    var magnitude = [Double](repeating: 0, count: m * n)
    w.withUnsafeBufferPointer { w in
      x.withUnsafeBufferPointer { x in
        for row in 0..<m {
          for column in 0..<n {
            var sum = 0.0
            var absolute = 0.0
            for i in 0..<k {
              let term = Double(w[column &* k &+ i]) * Double(x[row &* k &+ i])
              sum += term
              absolute += abs(term)
            }
            expected[row * n + column] = sum + Double(bias?[column] ?? 0)
            magnitude[row * n + column] = absolute + abs(Double(bias?[column] ?? 0))
          }
        }
      }
    }
    let rounding = BackendComparison.outputRounding(testCase.dtype)

    let weights = try PreparedWeights(tensor)
    let dispatch = try KernelDispatchPlan.linear(weights, tokens: m, activation: testCase.dtype, hasBias: bias != nil)
    #expect(dispatch.functionName.hasPrefix(m <= KernelDispatchPlan.gemvMaxTokens ? "gemv_" : "gemm_"))
    for order in LaneOrder.allCases {
      let bytes = try kernels.run(
        dispatch, weights: weights, input: input, bias: bias, outputBytes: m * n * testCase.dtype.byteSize,
        laneOrder: order)
      let result = try decodeFloats(bytes, dtype: testCase.dtype, count: m * n)
      var failures = 0
      for i in 0..<(m * n) {
        let tolerance = 1e-5 * magnitude[i] + rounding * abs(expected[i]) + 1e-30
        let error = abs(Double(result[i]) - expected[i])
        if !(error <= tolerance) {
          failures += 1
          if failures <= 3 {
            Issue.record(
              "\(dispatch.functionName) (\(order)) output \(i / n),\(i % n): \(result[i]) vs \(expected[i]) (tolerance \(tolerance))"
            )
          }
        }
      }
      #expect(failures == 0, "\(dispatch.functionName) (\(order)): \(failures) of \(m * n) outputs outside tolerance")
      if activationScale > 65504 { #expect(result.contains { abs($0) > 65504 }) }
    }
  }
}
