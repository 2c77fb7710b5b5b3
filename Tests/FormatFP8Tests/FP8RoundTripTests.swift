import BitsAndBytes
import FormatConformance
import FormatFP8
import QuantCore
import TestSupport
import Testing

/// Round-trip error bars, checkpoint layouts and typed errors of the fp8 formats.
@Suite("fp8 round trips and checkpoints")
struct FP8RoundTripTests {
  static let granularities: [Float8ScaleGranularity] = [.fineGrained, .tile(rows: 32, columns: 32), .row, .tensor, .unscaled]

  /// Weights with rows of very different magnitudes (as real layers have), 256 × 384.
  static func weights() throws -> (values: [Float], tensor: Tensor) {
    var generator = SeededNormal(seed: 2026)
    var values = generator.values(256 * 384)
    for row in 0..<256 {
      let scale = Float(0.02) * Float(1 + row % 8)
      for column in 0..<384 { values[row * 384 + column] *= scale }
    }
    return (values, try Tensor(values, shape: [256, 384]))
  }

  /// The measured relative RMS error (‖x − x̂‖ / ‖x‖) of each encoding and granularity, with margin.
  /// Measured on these weights: E4M3 tile128 0.02649, tile32 0.02623, row 0.02620, tensor 0.02650,
  /// none 0.02663; E5M2 tile128 0.05294, tile32 0.05202, row 0.05250, tensor 0.05296, none 0.05264.
  /// (fp8 is floating point, so the relative error barely depends on the scale while values stay in
  /// the normal range; ``scalesMatterForWideRanges()`` shows where granularity matters.)
  static let relativeRMSBound: [Float8Encoding: Float] = [.e4m3: 0.0285, .e5m2: 0.057]

  /// Every element is within half a step of the fp8 grid it was scaled onto: `2^-(m+1)·|x|` in the
  /// normal range, half the subnormal spacing (times the multiplier) below it; the overall relative
  /// RMS error stays under the stated bar.
  @Test(arguments: Float8Encoding.allCases, granularities)
  func roundTripErrorIsBounded(encoding: Float8Encoding, granularity: Float8ScaleGranularity) throws {
    let (x, tensor) = try FP8RoundTripTests.weights()
    let weights = try quantizeFP8(tensor, encoding: encoding, granularity: granularity)
    let decoded = try dequantizeFP8(weights).floats()
    let multiplier = try weights.scales.multiplierLookup(rows: 256, columns: 384)
    let mantissaBits: Float = encoding == .e4m3 ? 3 : 2
    let halfStep = Float.pow2(-(mantissaBits + 1))
    let halfSubnormal = encoding == .e4m3 ? Float.pow2(-10) : Float.pow2(-17)
    var worst: Float = 0
    var error: Double = 0
    var signal: Double = 0
    for i in x.indices {
      let inverse = multiplier(i / 384, i % 384)
      let bound = max(halfStep * abs(x[i]), halfSubnormal * inverse) * (1 + 0x1p-20) + abs(x[i]) * 0x1p-22
      worst = max(worst, abs(decoded[i] - x[i]) / bound)
      error += Double(decoded[i] - x[i]) * Double(decoded[i] - x[i])
      signal += Double(x[i]) * Double(x[i])
    }
    #expect(worst <= 1, "an element is \(worst)× beyond half an fp8 step")
    let relativeRMS = Float((error / signal).squareRoot())
    let bar = try #require(FP8RoundTripTests.relativeRMSBound[encoding])
    #expect(relativeRMS <= bar, "\(encoding) \(granularity): relative RMS \(relativeRMS)")
  }

  /// Rows whose magnitudes span six decades: one scale for the whole tensor pushes the small rows into
  /// E4M3's subnormals, per-row and per-tile scales do not. Measured relative RMS error of the rows
  /// from 2^-14 to 2^-8 (the ones at risk): tile (1×128) 0.0254, row 0.0259, tensor 0.0740, none 0.248.
  @Test func scalesMatterForWideRanges() throws {
    var generator = SeededNormal(seed: 7)
    var x = generator.values(128 * 256)
    for row in 0..<128 {
      let magnitude = Float.pow2(Float(row % 20) - 14)  // 2^-14 … 2^5
      for column in 0..<256 { x[row * 256 + column] *= magnitude }
    }
    let input = try Tensor(x, shape: [128, 256])
    func smallRowError(_ granularity: Float8ScaleGranularity) throws -> Float {
      let decoded = try dequantizeFP8E4M3(quantizeFP8E4M3(input, granularity: granularity)).floats()
      var error: Double = 0
      var signal: Double = 0
      for row in 0..<128 where row % 20 < 7 {
        for i in (row * 256)..<((row + 1) * 256) {
          error += Double(decoded[i] - x[i]) * Double(decoded[i] - x[i])
          signal += Double(x[i]) * Double(x[i])
        }
      }
      return Float((error / signal).squareRoot())
    }
    let tile = try smallRowError(.tile(rows: 1, columns: 128))
    let row = try smallRowError(.row)
    let tensor = try smallRowError(.tensor)
    let unscaled = try smallRowError(.unscaled)
    #expect(tile < 0.0285 && row < 0.0285, "tile \(tile), row \(row)")
    #expect(tensor > 2.5 * row && unscaled > 2 * tensor, "tensor \(tensor), none \(unscaled), row \(row)")
  }

  struct Source: TensorSource {
    var tensors: [String: Tensor]
    var tensorNames: [String] { tensors.keys.sorted() }
    func tensor(named name: String) throws(QuantError) -> Tensor? { tensors[name] }
  }

  /// `weight_scale_inv` has transformers' shapes, and reloading gives back the same tensor.
  @Test(arguments: [
    ("tile", 128, [300, 200], [3, 2]), ("tile", 64, [300, 200], [5, 4]), ("row", 128, [300, 200], [300, 1]),
    ("tensor", 128, [300, 200], []), ("none", 128, [300, 200], []), ("tile", 128, [4, 256, 128], [4, 2, 1]),
  ])
  func checkpointLayout(scale: String, tileSize: Int, shape: [Int], scaleShape: [Int]) throws {
    let format = FP8Format.e4m3
    let parameters = FormatParameters(["scale": .string(scale), "tile_size": .int(tileSize)])
    let input = try Tensor(converting: SeededNormal.values(shape.reduce(1, *), seed: 9), to: .bfloat16, shape: shape)
    let quantized = try format.quantize(input, parameters: parameters)
    let written = try format.checkpointTensors(for: quantized, weightName: "blk.ffn.weight")
    #expect(written.map(\.name) == ["blk.ffn.weight", "blk.ffn.weight_scale_inv"])
    #expect(written[0].tensor.dtype == .float8E4M3 && written[0].tensor.shape == shape)
    #expect(written[1].tensor.dtype == .float32 && written[1].tensor.shape == scaleShape)
    let source = Source(tensors: Dictionary(uniqueKeysWithValues: written.map { ($0.name, $0.tensor) }))
    let explicit = tileSize == 128 ? nil : (rows: tileSize, columns: tileSize)
    let loaded = try #require(try format.loadCheckpoint(weightName: "blk.ffn.weight", from: source, tileSize: explicit))
    #expect(
      try format.dequantize(loaded, to: .float32).floats().map(\.bitPattern)
        == format.dequantize(quantized, to: .float32).floats().map(\.bitPattern))
    #expect(loaded.shape == shape)
  }

  @Test func scaleShapesThatFitNoGridAreRefused() throws {
    let input = try Tensor(converting: SeededNormal.values(300 * 200, seed: 4), to: .float32, shape: [300, 200])
    let written = try FP8Format.e4m3.checkpointTensors(
      for: FP8Format.e4m3.quantize(input, parameters: FormatParameters()), weightName: "w.weight")
    var source = Source(tensors: Dictionary(uniqueKeysWithValues: written.map { ($0.name, $0.tensor) }))
    source.tensors["w.weight_scale_inv"] = try Tensor([Float](repeating: 1, count: 7), shape: [7])
    #expect(throws: QuantError.self) { try FP8Format.e4m3.loadCheckpoint(weightName: "w.weight", from: source) }
    source.tensors["w.weight_scale_inv"] = try Tensor([Float](repeating: 1, count: 6), shape: [3, 2])
    #expect(throws: QuantError.self) {
      try FP8Format.e4m3.loadCheckpoint(weightName: "w.weight", from: source, tileSize: (rows: 64, columns: 64))
    }
    source.tensors["w.weight_scale_inv"] = try Tensor([UInt8](repeating: 1, count: 6), shape: [3, 2])
    #expect(throws: QuantError.self) { try FP8Format.e4m3.loadCheckpoint(weightName: "w.weight", from: source) }
  }

  @Test func badInputIsATypedError() throws {
    let values = try Tensor([Float](repeating: 1, count: 8), shape: [2, 4])
    #expect(throws: QuantError.self) { try quantizeFP8E4M3(Tensor([Int32](repeating: 1, count: 4))) }
    #expect(throws: QuantError.self) { try quantizeFP8E5M2(Tensor([Float](), shape: [0, 4])) }
    #expect(throws: QuantError.self) { try quantizeFP8E4M3(values, granularity: .tile(rows: 0, columns: 4)) }
    #expect(throws: QuantError.self) {
      try FP8Format.e4m3.quantize(values, parameters: FormatParameters(["tile_size": .int(-1)]))
    }
    #expect(throws: QuantError.self) {
      try FP8Format.e4m3.quantize(values, parameters: FormatParameters(["overflow": .string("wrap")]))
    }
    let e4m3 = try quantizeFP8E4M3(values)
    #expect(throws: QuantError.self) { try dequantizeFP8E5M2(e4m3) }
    #expect(throws: QuantError.self) { try matmulFP8E5M2(values, e4m3, backend: ReferenceBackend()) }
    #expect(throws: QuantError.self) {
      try matmulFP8E4M3(Tensor([Float](repeating: 1, count: 3), shape: [1, 3]), e4m3, backend: ReferenceBackend())
    }
  }

  /// The weight-only fp8 linear is the float32 product with the decoded weights.
  @Test func linearUsesDecodedWeights() throws {
    let weight = try Tensor(converting: SeededNormal.values(24 * 40, seed: 5), to: .float32, shape: [24, 40])
    let input = try Tensor(converting: SeededNormal.values(3 * 40, seed: 6), to: .bfloat16, shape: [3, 40])
    let weights = try quantizeFP8E4M3(weight, granularity: .tile(rows: 16, columns: 16))
    let y = try matmulFP8E4M3(input, weights, backend: ReferenceBackend()).floats()
    let w = try dequantizeFP8E4M3(weights).floats()
    let x = try input.floats()
    for row in 0..<3 {
      for column in 0..<24 {
        var sum: Float = 0
        for k in 0..<40 { sum += x[row * 40 + k] * w[column * 40 + k] }
        #expect(y[row * 24 + column] == HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(sum)))
      }
    }
  }
}

extension Float {
  static func pow2(_ exponent: Float) -> Float { Float(sign: .plus, exponent: Int(exponent), significand: 1) }
}
