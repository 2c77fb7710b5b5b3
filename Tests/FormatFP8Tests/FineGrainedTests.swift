import FormatConformance
import FormatFP8
import QuantCore
import TestSupport
import Testing

/// transformers' fine-grained FP8 (`Fp8Quantize`, 128 × 128 tiles), byte for byte.
@Suite("fine-grained FP8 against transformers")
struct FineGrainedTests {
  static let fixture = Result { try FixtureSafeTensors("fp8/fp8.safetensors") }

  struct Source: TensorSource {
    var tensors: [String: Tensor]
    var tensorNames: [String] { tensors.keys.sorted() }
    func tensor(named name: String) throws(QuantError) -> Tensor? { tensors[name] }
  }

  @Test(arguments: ["finegrained", "finegrained_partial"])
  func quantizesLikeTransformers(caseName: String) throws {
    let fixture = try FineGrainedTests.fixture.get()
    let input = try fixture.require("\(caseName)/input")
    let expectedCodes = try fixture.require("\(caseName)/weight").bytes
    let expectedScales = try fixture.require("\(caseName)/weight_scale_inv")
    let weights = try quantizeFP8(input, encoding: .e4m3)
    #expect(weights.values.dtype == .float8E4M3 && weights.values.shape == input.shape)
    #expect(weights.values.bytes == expectedCodes)
    guard case .tiles(128, 128, let scales) = weights.scales else {
      Issue.record("expected 128×128 tiles, found \(weights.scales)")
      return
    }
    #expect(scales.map(\.bitPattern) == (try expectedScales.floats()).map(\.bitPattern))

    // The format writes transformers' tensors: weight (F8_E4M3) and weight_scale_inv [ceil(N/128), ceil(K/128)].
    let quantized = try FP8Format.e4m3.quantize(input, parameters: FormatParameters())
    let written = try FP8Format.e4m3.checkpointTensors(for: quantized, weightName: "layer.weight")
    #expect(written.map(\.name) == ["layer.weight", "layer.weight_scale_inv"])
    #expect(written[0].tensor.dtype.safetensorsName == "F8_E4M3" && written[0].tensor.bytes == expectedCodes)
    #expect(written[1].tensor.dtype == .float32 && written[1].tensor.shape == expectedScales.shape)
    #expect(written[1].tensor.bytes == expectedScales.bytes)
  }

  @Test func dequantizesAndLoadsLikeTransformers() throws {
    let fixture = try FineGrainedTests.fixture.get()
    let codes = try fixture.require("finegrained/weight")
    let source = Source(tensors: [
      "model.layers.0.mlp.down_proj.weight": try codes.viewed(as: .float8E4M3, shape: codes.shape),
      "model.layers.0.mlp.down_proj.weight_scale_inv": try fixture.require("finegrained/weight_scale_inv"),
    ])
    let loaded = try #require(
      try FP8Format.e4m3.loadCheckpoint(weightName: "model.layers.0.mlp.down_proj.weight", from: source))
    let expected = try fixture.require("finegrained/dequant").floats().map(\.bitPattern)
    #expect(try FP8Format.e4m3.dequantize(loaded, to: .float32).floats().map(\.bitPattern) == expected)
    guard case .float8(let weights) = loaded.layout else {
      Issue.record("expected the fp8 layout")
      return
    }
    #expect(try dequantizeFP8(weights).floats().map(\.bitPattern) == expected)
    // E5M2 does not claim E4M3 weights, and a plain fp8 tensor without scales is not this format.
    #expect(try FP8Format.e5m2.loadCheckpoint(weightName: "model.layers.0.mlp.down_proj.weight", from: source) == nil)
    var unscaled = source
    unscaled.tensors["model.layers.0.mlp.down_proj.weight_scale_inv"] = nil
    #expect(try FP8Format.e4m3.loadCheckpoint(weightName: "model.layers.0.mlp.down_proj.weight", from: unscaled) == nil)
  }
}
