import DoubleQuant
import FormatNF4
import QuantCore
import TestSupport
import Testing

@Suite("NF4 behaviour")
struct NF4Tests {
  /// bitsandbytes' test_4bit_quant (μ, σ) of mean absolute and relative error for randn, per blocksize.
  static let bars: [Int: (absolute: (Double, Double), relative: (Double, Double))] = [
    32: ((0.067746, 0.000069), (0.189726, 0.000304)), 64: ((0.072798, 0.000074), (0.203339, 0.000340)),
    128: ((0.076831, 0.000091), (0.215237, 0.000391)), 256: ((0.080337, 0.000102), (0.226105, 0.000398)),
    512: ((0.083547, 0.000143), (0.236079, 0.000544)), 1024: ((0.086610, 0.000187), (0.245370, 0.000600)),
    2048: ((0.089592, 0.000251), (0.254163, 0.000747)), 4096: ((0.092547, 0.000360), (0.262473, 0.000999)),
  ]

  static let normal: [Float] = {
    var generator = SeededGenerator(seed: 1024)
    return generator.normal(256 * 1024)
  }()

  static func errors(_ input: Tensor, _ output: Tensor) throws -> (absolute: Double, relative: Double) {
    let a = try input.floats()
    let b = try output.floats()
    var absolute: Double = 0
    var relative: Double = 0
    for (x, y) in zip(a, b) {
      let difference = Double(abs(x - y))
      absolute += difference
      relative += difference / (Double(abs(x)) + 1e-8)
    }
    return (absolute / Double(a.count), relative / Double(a.count))
  }

  @Test(
    "round-trip error stays under bitsandbytes' μ+7σ bars (randn 256x1024, float32)",
    arguments: [32, 64, 128, 256, 512, 1024, 2048, 4096])
  func statisticalBars(blocksize: Int) throws {
    let input = try Tensor(Self.normal, shape: [256, 1024])
    let (absolute, relative) = try Self.errors(input, try dequantizeNF4(try quantizeNF4(input, blocksize: blocksize)))
    let bar = try #require(Self.bars[blocksize])
    #expect(absolute < bar.absolute.0 + 7 * bar.absolute.1, "absolute \(absolute)")
    #expect(relative < bar.relative.0 + 7 * bar.relative.1, "relative \(relative)")
  }

  @Test("float16 and bfloat16 inputs meet the same bars at blocksize 64", arguments: [DType.float16, .bfloat16])
  func halfPrecisionBars(dtype: DType) throws {
    let input = try Tensor(converting: Self.normal, to: dtype, shape: [256, 1024])
    let output = try dequantizeNF4(try quantizeNF4(input, blocksize: 64))
    #expect(output.dtype == dtype)
    let (absolute, relative) = try Self.errors(input, output)
    let bar = try #require(Self.bars[64])
    #expect(absolute < bar.absolute.0 + 7 * bar.absolute.1, "absolute \(absolute)")
    #expect(relative < bar.relative.0 + 7 * bar.relative.1, "relative \(relative)")
  }

  @Test("double-quantized statistics stay under test_4bit_compressed_stats' bars", arguments: [32, 64, 128])
  func compressedStatistics(blocksize: Int) throws {
    let input = try Tensor(Array(Self.normal.prefix(64 * 1024)), shape: [64, 1024])
    let (absolute, relative) = try Self.errors(
      input, try dequantizeNF4(try quantizeNF4(input, blocksize: blocksize, doubleQuant: true)))
    #expect(absolute < 0.11 && relative < 0.28, "absolute \(absolute), relative \(relative)")
  }

  @Test("the identity matrix round-trips exactly", arguments: [DType.float32, .float16, .bfloat16])
  func identity(dtype: DType) throws {
    let size = 64
    let eye = (0..<(size * size)).map { $0 / size == $0 % size ? Float(1) : 0 }
    let input = try Tensor(converting: eye, to: dtype, shape: [size, size])
    for blocksize in [32, 64, 4096] {
      for nested in [false, true] {
        let output = try dequantizeNF4(try quantizeNF4(input, blocksize: blocksize, doubleQuant: nested))
        #expect(output.bytes == input.bytes, "blocksize \(blocksize), double quant \(nested)")
      }
    }
  }

  @Test("quant_storage only changes the view of the packed bytes")
  func quantStorage() throws {
    let input = try Tensor(Array(Self.normal.prefix(8 * 64)), shape: [8, 64])
    let reference = try quantizeNF4(input)
    guard case .codebook4Bit(let packed, _) = reference.layout else { throw QuantError.invalidState("layout") }
    #expect(packed.shape == [256, 1] && packed.dtype == .uint8)
    for (storage, rows) in [(DType.float16, 128), (.bfloat16, 128), (.float32, 64), (.int8, 256), (.float64, 32)] {
      let viewed = try quantizeNF4(input, quantStorage: storage)
      guard case .codebook4Bit(let other, _) = viewed.layout else { throw QuantError.invalidState("layout") }
      #expect(other.dtype == storage && other.shape == [rows, 1] && other.bytes == packed.bytes)
      #expect(try dequantizeNF4(viewed).bytes == (try dequantizeNF4(reference)).bytes)
    }
    // 7 elements pack into 4 bytes, which cannot be viewed as float64.
    let odd = try Tensor(Array(Self.normal.prefix(7)))
    #expect(throws: QuantError.self) { try quantizeNF4(odd, quantStorage: .float64) }
  }

  @Test("bad input gives typed errors")
  func badInput() throws {
    let values = try Tensor(Array(Self.normal.prefix(64)), shape: [1, 64])
    #expect(throws: QuantError.emptyTensor(context: "nf4 quantization")) { try quantizeNF4(try Tensor([Float]())) }
    #expect(throws: QuantError.unsupportedBlocksize(48, supported: Blockwise4BitCodec.supportedBlocksizes)) {
      try quantizeNF4(values, blocksize: 48)
    }
    #expect(throws: QuantError.self) { try quantizeNF4(try Tensor([Int32](repeating: 1, count: 8))) }
    #expect(throws: QuantError.self) { try quantizeNF4(values, quantStorage: .int32) }
    let format = NF4Format()
    #expect(throws: QuantError.self) {
      try format.quantize(values, parameters: FormatParameters(["quant_storage": .string("float8_e4m3fn")]))
    }
    #expect(throws: QuantError.self) { try format.quantize(values, parameters: FormatParameters(["double_quant": .int(1)])) }

    // Mismatched or truncated state is refused, never trapped on.
    let quantized = try quantizeNF4(values)
    guard case .codebook4Bit(let packed, var state) = quantized.layout else { throw QuantError.invalidState("layout") }
    state.absmax = .plain([1, 2])
    let wrongAbsmax = QuantizedTensor(
      format: "nf4", shape: [1, 64], originalDType: .float32, layout: .codebook4Bit(packed: packed, state: state))
    #expect(throws: QuantError.self) { try dequantizeNF4(wrongAbsmax) }
    let truncatedPacked = try Tensor(Array(packed.bytes.prefix(10)), shape: [10, 1])
    let truncated = QuantizedTensor(
      format: "nf4", shape: [1, 64], originalDType: .float32,
      layout: .codebook4Bit(packed: truncatedPacked, state: try #require(Self.state(of: quantized))))
    #expect(throws: QuantError.self) { try dequantizeNF4(truncated) }
    #expect(throws: QuantError.self) { try format.checkpointTensors(for: truncated, weightName: "w") }
    #expect(throws: QuantError.self) { try dequantizeNF4(quantized, to: .int8) }
    let eightBit = try quantizeBlockwise(values)
    #expect(throws: QuantError.self) { try dequantizeNF4(eightBit) }
    #expect(throws: QuantError.self) { try matmulNF4(values, eightBit) }
  }

  static func state(of tensor: QuantizedTensor) -> QuantState? {
    if case .codebook4Bit(_, let state) = tensor.layout { state } else { nil }
  }

  @Test("checkpoint tensors round-trip through a TensorSource", arguments: [false, true])
  func checkpointRoundTrip(nested: Bool) throws {
    let format = NF4Format()
    let input = try Tensor(converting: Array(Self.normal.prefix(3 * 333)), to: .bfloat16, shape: [3, 333])
    let quantized = try format.quantize(
      input,
      parameters: FormatParameters(["blocksize": .int(128), "double_quant": .bool(nested), "quant_storage": .string("float16")]))
    let written = try format.checkpointTensors(for: quantized, weightName: "layer.weight")
    let expectedNames =
      ["layer.weight", "layer.weight.absmax", "layer.weight.quant_map"]
      + (nested ? ["layer.weight.nested_absmax", "layer.weight.nested_quant_map"] : [])
      + ["layer.weight.quant_state.bitsandbytes__nf4"]
    #expect(written.map(\.name) == expectedNames)
    let companions =
      format.companionTensorNames(for: "layer.weight")
      + (nested ? NF4.codec.nestedCompanionTensorNames(for: "layer.weight") : [])
    #expect(Set(companions) == Set(expectedNames.dropFirst()))
    let source = InMemoryTensorSource(written)
    let loaded = try #require(try format.loadCheckpoint(weightName: "layer.weight", from: source))
    #expect(loaded.shape == [3, 333] && loaded.originalDType == .bfloat16)
    let rewritten = try format.checkpointTensors(for: loaded, weightName: "layer.weight")
    #expect(rewritten.map(\.name) == written.map(\.name))
    for (a, b) in zip(rewritten, written) {
      #expect(
        a.tensor.dtype == b.tensor.dtype && a.tensor.shape == b.tensor.shape && a.tensor.bytes == b.tensor.bytes, "\(a.name)")
    }
    #expect(try format.dequantize(loaded, to: .bfloat16).bytes == (try format.dequantize(quantized, to: .bfloat16)).bytes)
    #expect(try format.loadCheckpoint(weightName: "missing.weight", from: source) == nil)

    // Missing, truncated or contradictory companions are refused with typed errors.
    for companion in written.map(\.name) where !companion.hasSuffix("bitsandbytes__nf4") {
      let partial = InMemoryTensorSource(written.filter { $0.name != companion })
      #expect(throws: QuantError.self, "without \(companion)") {
        try format.loadCheckpoint(weightName: "layer.weight", from: partial)
      }
      var tensors = InMemoryTensorSource(written).tensors
      let original = try #require(tensors[companion])
      tensors[companion] = try Tensor(dtype: original.dtype, shape: [original.elementCount - 1]) { _ in }
      #expect(throws: QuantError.self, "truncated \(companion)") {
        try format.loadCheckpoint(weightName: "layer.weight", from: InMemoryTensorSource(tensors))
      }
    }
    var tensors = InMemoryTensorSource(written).tensors
    tensors["layer.weight.quant_map"] = try Tensor(FP4CodebookForTests.values)
    #expect(throws: QuantError.self, "an fp4 quant_map under an nf4 state") {
      try format.loadCheckpoint(weightName: "layer.weight", from: InMemoryTensorSource(tensors))
    }
    tensors = InMemoryTensorSource(written).tensors
    tensors["layer.weight.quant_state.bitsandbytes__nf4"] = try Tensor(Array("{\"quant_type\": \"nf4\"}".utf8))
    #expect(throws: QuantError.self) {
      try format.loadCheckpoint(weightName: "layer.weight", from: InMemoryTensorSource(tensors))
    }
  }

  @Test("the transformers NF4 + double-quant checkpoint loads, rewrites byte for byte, and re-quantizes")
  func transformersCheckpoint() throws {
    let report = try BitsAndBytesCheckpointHarness.run(
      format: NF4Format(), variant: "tiny-llama-bnb-nf4-dq",
      parameters: FormatParameters(["blocksize": .int(64), "double_quant": .bool(true)]))
    print("NF4 checkpoint: \(report)")
    #expect(report.weights == 14)
    #expect(report.failures.isEmpty, "\(report.failures.prefix(10).joined(separator: "\n"))")
    #expect(report.offsetDifferences == 0)
  }

  @Test("the plugin registers nf4 with its alias; matmulNF4 equals dequantize-then-multiply")
  func pluginAndMatmul() throws {
    let registry = QuantRegistry()
    try registry.install(NF4Plugin())
    #expect(try registry.format(named: "bnb-nf4").name == "nf4")
    #expect(
      try registry.defaultParameters(forFormat: "nf4")
        == FormatParameters(
          ["blocksize": .int(64), "double_quant": .bool(false), "quant_storage": .string("uint8")]))
    #expect(NF4.isAvailable && NF4Format().isBitsAndBytesCompatible)

    let weight = try quantizeNF4(try Tensor(Array(Self.normal.prefix(6 * 64)), shape: [6, 64]))
    let input = try Tensor(Array(Self.normal.suffix(2 * 64)), shape: [2, 64])
    let bias = try Tensor([Float](repeating: 0.5, count: 6))
    let output = try matmulNF4(input, weight, bias: bias)
    #expect(output.shape == [2, 6])
    let w = try dequantizeNF4(weight).scalars(as: Float.self)
    let x = try input.scalars(as: Float.self)
    let y = try output.scalars(as: Float.self)
    for row in 0..<2 {
      for column in 0..<6 {
        var sum: Float = 0
        for k in 0..<64 { sum += x[row * 64 + k] * w[column * 64 + k] }
        #expect(y[row * 6 + column] == sum + 0.5)
      }
    }
  }
}

/// FP4's codebook, to plant a wrong `quant_map` (the NF4 module does not import FormatFP4).
enum FP4CodebookForTests {
  static let values: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3].map { $0 / 12 }
}
