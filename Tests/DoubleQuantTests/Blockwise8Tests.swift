import DoubleQuant
import FormatConformance
import QuantCore
import TestSupport
import Testing

@Suite("8-bit blockwise quantization")
struct Blockwise8Tests {
  static func errors(_ input: [Float], _ output: [Float]) -> (absolute: Float, relative: Float) {
    var absolute: Double = 0
    var relative: Double = 0
    for (x, y) in zip(input, output) {
      absolute += Double(abs(x - y))
      relative += Double(abs(x - y) / (abs(x) + 1e-8))
    }
    return (Float(absolute / Double(input.count)), Float(relative / Double(input.count)))
  }

  @Test("bitsandbytes' test_dynamic_blockwise_quantization bars hold (256 x 1024, blocksize 256)")
  func statisticalBars() throws {
    var generator = SeededNormal(seed: 2026)
    let count = 256 * 1024
    let normal = generator.values(count)
    let uniform = (0..<count).map { _ in Float(generator.nextUnit()) }
    let cases: [(values: [Float], map: [Float], absolute: Float, relative: Float)] = [
      (normal, DynamicMap.signed, 0.011, 0.018),
      (uniform, DynamicMap.signed, 0.0036, 0.015),
      (uniform, DynamicMap.unsigned, 0.0023, 0.012),
    ]
    for item in cases {
      let quantized = try quantizeBlockwise(try Tensor(item.values), code: item.map, blocksize: 256)
      let restored = try dequantizeBlockwise(quantized).scalars(as: Float.self)
      let (absolute, relative) = Self.errors(item.values, restored)
      #expect(absolute < item.absolute && relative < item.relative, "abs \(absolute) rel \(relative)")
    }
  }

  @Test("an all-zero block gets index 127 and decodes to zero; any positive blocksize works")
  func zeroBlocksAndOddBlocksizes() throws {
    let values: [Float] = [0, 0, 0, 0, 0.5, -1, 0.25, 0, 3]
    let quantized = try quantizeBlockwise(try Tensor(values), blocksize: 4)
    guard case .codebook8Bit(let codes, let state) = quantized.layout else {
      Issue.record("unexpected layout")
      return
    }
    #expect(Array(codes.bytes.prefix(4)) == [127, 127, 127, 127])
    #expect(state.absmax.decoded() == [0, 1, 3])
    #expect(codes.bytes[8] == 255 && codes.bytes[5] == 0)
    let restored = try dequantizeBlockwise(quantized, to: .float32).scalars(as: Float.self)
    #expect(Array(restored.prefix(4)) == [0, 0, 0, 0])
    #expect(restored[5] == DynamicMap.signed[0])
  }

  @Test("bad input gives typed errors")
  func badInput() throws {
    let empty = try Tensor([Float]())
    #expect(throws: QuantError.emptyTensor(context: "quantizeBlockwise")) { try quantizeBlockwise(empty) }
    let ints = try Tensor([Int32(1), 2, 3])
    #expect(throws: QuantError.self) { try quantizeBlockwise(ints) }
    let values = try Tensor([Float(1), 2, 3])
    #expect(throws: QuantError.self) { try quantizeBlockwise(values, blocksize: 0) }
    #expect(throws: QuantError.self) { try quantizeBlockwise(values, code: [0, 1]) }
    #expect(throws: QuantError.self) { try quantizeBlockwise(values, code: DynamicMap.signed.reversed()) }
  }

  @Test("the blockwise8 format registers through its plugin and round-trips a checkpoint")
  func formatAndCheckpoint() throws {
    let registry = QuantRegistry()
    try registry.install(DoubleQuantPlugin())
    let format = try registry.format(named: "dynamic8")
    #expect(format.name == "blockwise8")
    var generator = SeededNormal(seed: 3)
    let input = try Tensor(converting: generator.values(3 * 100), to: .bfloat16, shape: [3, 100])
    let quantized = try format.quantize(input, parameters: FormatParameters(["blocksize": .int(64), "map": .string("signed")]))
    let written = try format.checkpointTensors(for: quantized, weightName: "w")
    #expect(written.map(\.name) == ["w", "w.absmax", "w.quant_map", "w.quant_state.blockwise8"])
    let loaded = try #require(try format.loadCheckpoint(weightName: "w", from: InMemoryTensorSource(written)))
    #expect(loaded.shape == [3, 100] && loaded.originalDType == .bfloat16)
    #expect(try format.dequantize(loaded, to: .bfloat16).bytes == (try format.dequantize(quantized, to: .bfloat16)).bytes)
    #expect(try format.loadCheckpoint(weightName: "other", from: InMemoryTensorSource(written)) == nil)
    let truncated = InMemoryTensorSource(written.filter { $0.name != "w.absmax" })
    #expect(throws: QuantError.self) { try format.loadCheckpoint(weightName: "w", from: truncated) }
    #expect(throws: QuantError.self) {
      try format.quantize(input, parameters: FormatParameters(["map": .string("weird")]))
    }
  }
}
