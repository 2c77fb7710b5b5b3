import FormatConformance
import FormatINT8
import QuantCore
import TestSupport
import Testing

/// Properties of LLM.int8 that need no fixture: exact integer products, the value of the outlier
/// decomposition, checkpoint validation and typed errors.
@Suite("LLM.int8 properties")
struct Int8PropertyTests {
  /// int8 × int8 → int32 equals a 64-bit integer reference for every element, with the full int8 range
  /// (−128 included) and a K large enough that bitsandbytes' float32 fallback would round.
  @Test(arguments: [(3, 5, 4096), (7, 9, 33), (1, 1, 1)])
  func int8ProductIsExact(m: Int, n: Int, k: Int) throws {
    var generator = SeededNormal(seed: UInt64(m * 1000 + k))
    let a = (0..<(m * k)).map { _ in Int8(truncatingIfNeeded: generator.next()) }
    var b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: generator.next()) }
    if k == 4096 {
      // A worst-case row pair: every product is (−128)·(−128), a sum of 2^26 that float32 cannot hold
      // with the 1-ulp steps of the other terms.
      for index in 0..<k { b[index] = -128 }
    }
    let product = try matmulInt8(Tensor(a, shape: [m, k]), Tensor(b, shape: [n, k]))
    #expect(product.dtype == .int32 && product.shape == [m, n])
    let values = try product.scalars(as: Int32.self)
    for row in 0..<m {
      for column in 0..<n {
        var exact: Int64 = 0
        for index in 0..<k { exact += Int64(a[row * k + index]) * Int64(b[column * k + index]) }
        #expect(Int64(values[row * n + column]) == exact)
      }
    }
  }

  /// The mixed-precision decomposition keeps outlier features accurate: with outliers far above the
  /// rest, `threshold: 6` is within bitsandbytes' `test_matmullt` bars of the float product with the
  /// dequantized weights, and much closer than plain int8 (`threshold: 0`).
  @Test(arguments: [DType.float16, .bfloat16, .float32])
  func outlierDecompositionIsAccurate(dtype: DType) throws {
    var generator = SeededNormal(seed: 99)
    let m = 16
    let k = 256
    let n = 32
    var x = generator.values(m * k)
    for row in 0..<m {
      for column in [5, 77, 200] { x[row * k + column] = (row % 2 == 0 ? 1 : -1) * Float(20 + row) }
    }
    let input = try Tensor(converting: x, to: dtype, shape: [m, k])
    let weight = try Tensor(converting: generator.values(n * k).map { $0 * 0.05 }, to: .float16, shape: [n, k])
    guard case .int8Rowwise(let weights) = try Int8Format().quantize(weight, parameters: FormatParameters()).layout else {
      Issue.record("expected int8-rowwise")
      return
    }
    let w = try dequantizeRowwise(weights).floats()
    let xs = try input.floats()
    var reference = [Float](repeating: 0, count: m * n)
    for row in 0..<m {
      for column in 0..<n {
        var sum: Double = 0
        for index in 0..<k { sum += Double(xs[row * k + index]) * Double(w[column * k + index]) }
        reference[row * n + column] = Float(sum)
      }
    }
    func errors(_ threshold: Double) throws -> (mean: Float, mismatches: Int) {
      let y = try int8Linear(input, weights: weights, threshold: threshold).floats()
      let mean = zip(y, reference).map { abs($0 - $1) }.reduce(0, +) / Float(y.count)
      let mismatches = zip(y, reference).filter { abs($0 - $1) > 0.035 + 0.2 * abs($1) }.count
      return (mean, mismatches)
    }
    let mixed = try errors(6)
    let plain = try errors(0)
    // bitsandbytes test_matmullt: at most 0.1% of outputs outside atol 0.035, rtol 0.2.
    #expect(mixed.mismatches * 1000 <= m * n, "mixed: \(mixed)")
    #expect(mixed.mean * 4 < plain.mean, "mixed \(mixed.mean) vs plain \(plain.mean)")
  }

  struct Source: TensorSource {
    var tensors: [String: Tensor]
    var tensorNames: [String] { tensors.keys.sorted() }
    func tensor(named name: String) throws(QuantError) -> Tensor? { tensors[name] }
  }

  static func checkpoint() throws -> Source {
    let format = Int8Format()
    let weight = try Tensor(converting: SeededNormal.values(4 * 8, seed: 1), to: .float16, shape: [4, 8])
    let written = try format.checkpointTensors(
      for: format.quantize(weight, parameters: FormatParameters()), weightName: "m.weight")
    return Source(tensors: Dictionary(uniqueKeysWithValues: written.map { ($0.name, $0.tensor) }))
  }

  @Test func checkpointWeightFormatIsChecked() throws {
    let format = Int8Format()
    var source = try Int8PropertyTests.checkpoint()
    #expect(try format.loadCheckpoint(weightName: "m.weight", from: source)?.shape == [4, 8])
    // bitsandbytes assumes "row" when weight_format is absent.
    source.tensors["m.weight_format"] = nil
    #expect(try format.loadCheckpoint(weightName: "m.weight", from: source) != nil)
    for legacy in [UInt8(1), 2, 3, 9] {
      source.tensors["m.weight_format"] = try Tensor([legacy], shape: [])
      #expect(throws: QuantError.self) { try format.loadCheckpoint(weightName: "m.weight", from: source) }
    }
    source.tensors["m.weight_format"] = try Tensor([Float(0)], shape: [])
    #expect(throws: QuantError.self) { try format.loadCheckpoint(weightName: "m.weight", from: source) }
  }

  @Test func inconsistentCheckpointsAreRefused() throws {
    let format = Int8Format()
    var source = try Int8PropertyTests.checkpoint()
    source.tensors["m.SCB"] = try Tensor([Float](repeating: 1, count: 3))
    #expect(throws: QuantError.self) { try format.loadCheckpoint(weightName: "m.weight", from: source) }
    source = try Int8PropertyTests.checkpoint()
    source.tensors["m.SCB"] = nil
    #expect(try format.loadCheckpoint(weightName: "m.weight", from: source) == nil)
    source = try Int8PropertyTests.checkpoint()
    source.tensors["m.weight"] = try Tensor([Float](repeating: 1, count: 32), shape: [4, 8])
    #expect(try format.loadCheckpoint(weightName: "m.weight", from: source) == nil)
    #expect(throws: QuantError.self) {
      try format.checkpointTensors(
        for: QuantizedTensor(
          format: "int8", shape: [1], originalDType: .float32,
          layout: .float8(Float8Weights(values: try Tensor([UInt8(0)]), encoding: .e4m3, scales: .tensor(1)))),
        weightName: "m.weight")
    }
  }

  @Test func badInputIsATypedError() throws {
    let values = try Tensor([Float](repeating: 1, count: 8), shape: [2, 4])
    #expect(throws: QuantError.self) { try quantizeRowwise(values, threshold: -1) }
    #expect(throws: QuantError.self) { try quantizeRowwise(values, threshold: .nan) }
    #expect(throws: QuantError.self) { try quantizeRowwise(Tensor([Double](repeating: 1, count: 4))) }
    #expect(throws: QuantError.self) { try quantizeRowwise(Tensor([Float(1)], shape: [])) }
    #expect(throws: QuantError.self) { try quantizeRowwise(Tensor([Float](), shape: [3, 0])) }
    #expect(throws: QuantError.self) {
      try Int8Format().quantize(values, parameters: FormatParameters(["threshold": .double(-2)]))
    }
    #expect(throws: QuantError.self) {
      try Int8Format().quantize(values, parameters: FormatParameters(["weight_threshold": .string("high")]))
    }
    let weights = try quantizeRowwise(values)
    #expect(throws: QuantError.self) { try int8Linear(Tensor([Float](repeating: 1, count: 3), shape: [1, 3]), weights: weights) }
    #expect(throws: QuantError.self) { try matmulInt8(values, weights.values) }
    #expect(throws: QuantError.self) {
      try dequantizeInt8Matmul(Tensor([Int32](repeating: 1, count: 4), shape: [2, 2]), rowStats: [1], columnStats: [1, 1])
    }
  }
}
