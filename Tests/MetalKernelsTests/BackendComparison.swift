import FormatConformance
import QuantCore

/// Compares a backend with ``ReferenceBackend`` on the kernel test layouts: the checks of the GPU suite
/// (`GPUKernelTests`, Apple only), compiled everywhere so that Linux tests the checks themselves.
///
/// - dequantize: the output bytes must be identical (both decode in float32 and round once).
/// - linear: `|y − y_ref| ≤ 2e-5 · Σ|w·x| + r · |y_ref|` per output, with r = 2⁻²³ (float32), 2⁻¹⁰
///   (float16), 2⁻⁷ (bfloat16): both accumulate in float32 in different orders (the reference in K
///   order, the GPU per 16-column chunk, SIMD-group tree and `simdgroup_matrix` tiles), which can move
///   the float32 sum by a few ulps of Σ|w·x| and the rounded output by one ulp of its dtype.
struct BackendComparison {
  /// The backend under test.
  var backend: any KernelBackend

  /// Weight shapes `[N, K]`: rows not a multiple of 8, K with partial blocks and odd K, one 1024-wide.
  static let shapes: [(Int, Int)] = [(37, 256), (13, 128), (5, 100), (3, 33), (17, 48), (64, 1024)]
  /// Activation rows: GEMV at 1 and 8, GEMM at 9 and 33.
  static let tokenCounts = [1, 8, 9, 33]
  /// Activation dtypes.
  static let dtypes: [DType] = [.float32, .float16, .bfloat16]

  /// Relative output rounding allowed per dtype.
  static func outputRounding(_ dtype: DType) -> Double {
    switch dtype {
    case .float16: 0x1p-10
    case .bfloat16: 0x1p-7
    default: 0x1p-23
    }
  }

  /// Problems found decoding `variant` at every shape to `dtype` (empty when every byte matches).
  func dequantizeProblems(_ variant: LayoutVariant, dtype: DType) throws -> [String] {
    var problems: [String] = []
    for (index, (n, k)) in Self.shapes.enumerated() {
      let tensor = try variant.weights(rows: n, columns: k, seed: UInt64(index * 131 + k))
      let expected = try ReferenceBackend().dequantize(tensor, to: dtype).bytes
      let result = try backend.dequantize(tensor, to: dtype).bytes
      if result != expected {
        let first =
          zip(result, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(result.count, expected.count)
        problems.append("\(variant) [\(n), \(k)] → \(dtype): first differing byte \(first) of \(expected.count)")
      }
    }
    return problems
  }

  /// Problems found in `linear` for `variant` at every shape, with `m` activation rows in `dtype`.
  func linearProblems(_ variant: LayoutVariant, dtype: DType, m: Int) throws -> [String] {
    var problems: [String] = []
    for (index, (n, k)) in Self.shapes.enumerated() {
      let seed = UInt64(index * 7919 + m * 31 + k)
      let tensor = try variant.weights(rows: n, columns: k, seed: seed)
      let input = try randomActivations(rows: m, columns: k, dtype: dtype, seed: seed &+ 1)
      var generator = SeededNormal(seed: seed &+ 2)
      let bias = index % 2 == 0 ? try Tensor((0..<n).map { _ in Float.random(in: -1...1, using: &generator) }) : nil
      let expected = try ReferenceBackend().linear(input, weight: tensor, bias: bias).floats()
      let result = try backend.linear(input, weight: tensor, bias: bias)
      guard result.shape == [m, n], result.dtype == dtype else {
        problems.append("\(variant) M=\(m) [\(n), \(k)] \(dtype): shape \(result.shape) \(result.dtype)")
        continue
      }
      let w = try tensor.layout.dequantizedFloats()
      let x = try input.floats()
      if let problem = try firstOutOfTolerance(
        result, expected, rows: m, columns: n, terms: k, dtype: dtype,
        term: { row, column, j in
          Double(w[column * k + j]) * Double(x[row * k + j])
        })
      {
        problems.append("\(variant) M=\(m) [\(n), \(k)] \(dtype) y\(problem)")
      }
    }
    return problems
  }

  /// Problems found in `linearInputGradient` (`dY [m, N] · W [N, K]`) for `variant` at every shape.
  func inputGradientProblems(_ variant: LayoutVariant, dtype: DType, m: Int) throws -> [String] {
    var problems: [String] = []
    for (index, (n, k)) in Self.shapes.enumerated() {
      let seed = UInt64(index * 7907 + m * 37 + k)
      let tensor = try variant.weights(rows: n, columns: k, seed: seed)
      let gradient = try randomActivations(rows: m, columns: n, dtype: dtype, seed: seed &+ 1)
      let expected = try ReferenceBackend().linearInputGradient(gradient, weight: tensor).floats()
      let result = try backend.linearInputGradient(gradient, weight: tensor)
      guard result.shape == [m, k], result.dtype == dtype else {
        problems.append("\(variant) M=\(m) [\(n), \(k)] \(dtype): shape \(result.shape) \(result.dtype)")
        continue
      }
      let w = try tensor.layout.dequantizedFloats()
      let dy = try gradient.floats()
      if let problem = try firstOutOfTolerance(
        result, expected, rows: m, columns: k, terms: n, dtype: dtype,
        term: { row, column, p in
          Double(dy[row * n + p]) * Double(w[p * k + column])
        })
      {
        problems.append("\(variant) M=\(m) [\(n), \(k)] \(dtype) dx\(problem)")
      }
    }
    return problems
  }

  /// The first output outside `2e-5 · Σ|terms| + r · |reference|`, described as `[row, column] = …`.
  private func firstOutOfTolerance(
    _ result: Tensor, _ expected: [Float], rows: Int, columns: Int, terms: Int, dtype: DType,
    term: (Int, Int, Int) -> Double
  ) throws -> String? {
    let values = try result.floats()
    for row in 0..<rows {
      for column in 0..<columns {
        var magnitude = 0.0
        for j in 0..<terms { magnitude += abs(term(row, column, j)) }
        let reference = Double(expected[row * columns + column])
        let tolerance = 2e-5 * magnitude + Self.outputRounding(dtype) * abs(reference)
        let value = values[row * columns + column]
        if !(abs(Double(value) - reference) <= tolerance) {
          return "[\(row), \(column)] = \(value), reference \(reference), tolerance \(tolerance)"
        }
      }
    }
    return nil
  }
}
