import DoubleQuant
import FormatFP4
import QuantCore
import TestSupport
import Testing

@Suite("FP4 behaviour")
struct FP4Tests {
  /// bitsandbytes' test_4bit_quant (μ, σ) of mean absolute and relative error for randn, per blocksize.
  static let bars: [Int: (absolute: (Double, Double), relative: (Double, Double))] = [
    32: ((0.088925, 0.000091), (0.242443, 0.000330)), 64: ((0.096543, 0.000111), (0.260125, 0.000379)),
    128: ((0.102969, 0.000134), (0.275817, 0.000433)), 256: ((0.108684, 0.000182), (0.289831, 0.000497)),
    512: ((0.114115, 0.000234), (0.302881, 0.000583)), 1024: ((0.119333, 0.000320), (0.315000, 0.000757)),
    2048: ((0.124556, 0.000455), (0.326607, 0.000955)), 4096: ((0.129536, 0.000612), (0.337169, 0.001239)),
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
    let (absolute, relative) = try Self.errors(input, try dequantizeFP4(try quantizeFP4(input, blocksize: blocksize)))
    let bar = try #require(Self.bars[blocksize])
    #expect(absolute < bar.absolute.0 + 7 * bar.absolute.1, "absolute \(absolute)")
    #expect(relative < bar.relative.0 + 7 * bar.relative.1, "relative \(relative)")
  }

  @Test("float16 and bfloat16 inputs meet the same bars at blocksize 64", arguments: [DType.float16, .bfloat16])
  func halfPrecisionBars(dtype: DType) throws {
    let input = try Tensor(converting: Self.normal, to: dtype, shape: [256, 1024])
    let output = try dequantizeFP4(try quantizeFP4(input, blocksize: 64))
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
      input, try dequantizeFP4(try quantizeFP4(input, blocksize: blocksize, doubleQuant: true)))
    #expect(absolute < 0.11 && relative < 0.28, "absolute \(absolute), relative \(relative)")
  }

  @Test("the identity matrix round-trips exactly", arguments: [DType.float32, .float16, .bfloat16])
  func identity(dtype: DType) throws {
    let size = 64
    let eye = (0..<(size * size)).map { $0 / size == $0 % size ? Float(1) : 0 }
    let input = try Tensor(converting: eye, to: dtype, shape: [size, size])
    for blocksize in [32, 64, 4096] {
      for nested in [false, true] {
        let output = try dequantizeFP4(try quantizeFP4(input, blocksize: blocksize, doubleQuant: nested))
        #expect(output.bytes == input.bytes, "blocksize \(blocksize), double quant \(nested)")
      }
    }
  }

  @Test("quant_storage only changes the view of the packed bytes")
  func quantStorage() throws {
    let input = try Tensor(Array(Self.normal.prefix(8 * 64)), shape: [8, 64])
    let reference = try quantizeFP4(input)
    guard case .codebook4Bit(let packed, _) = reference.layout else { throw QuantError.invalidState("layout") }
    #expect(packed.shape == [256, 1] && packed.dtype == .uint8)
    for (storage, rows) in [(DType.float16, 128), (.bfloat16, 128), (.float32, 64), (.int8, 256), (.float64, 32)] {
      let viewed = try quantizeFP4(input, quantStorage: storage)
      guard case .codebook4Bit(let other, _) = viewed.layout else { throw QuantError.invalidState("layout") }
      #expect(other.dtype == storage && other.shape == [rows, 1] && other.bytes == packed.bytes)
      #expect(try dequantizeFP4(viewed).bytes == (try dequantizeFP4(reference)).bytes)
    }
    // 7 elements pack into 4 bytes, which cannot be viewed as float64.
    let odd = try Tensor(Array(Self.normal.prefix(7)))
    #expect(throws: QuantError.self) { try quantizeFP4(odd, quantStorage: .float64) }
  }

  @Test("bad input gives typed errors")
  func badInput() throws {
    let values = try Tensor(Array(Self.normal.prefix(64)), shape: [1, 64])
    #expect(throws: QuantError.emptyTensor(context: "fp4 quantization")) { try quantizeFP4(try Tensor([Float]())) }
    #expect(throws: QuantError.unsupportedBlocksize(48, supported: Blockwise4BitCodec.supportedBlocksizes)) {
      try quantizeFP4(values, blocksize: 48)
    }
    #expect(throws: QuantError.self) { try quantizeFP4(try Tensor([Int32](repeating: 1, count: 8))) }
    #expect(throws: QuantError.self) { try quantizeFP4(values, quantStorage: .int32) }
    let format = FP4Format()
    #expect(throws: QuantError.self) {
      try format.quantize(values, parameters: FormatParameters(["quant_storage": .string("float8_e4m3fn")]))
    }
    #expect(throws: QuantError.self) { try format.quantize(values, parameters: FormatParameters(["double_quant": .int(1)])) }

    // Mismatched or truncated state is refused, never trapped on.
    let quantized = try quantizeFP4(values)
    guard case .codebook4Bit(let packed, var state) = quantized.layout else { throw QuantError.invalidState("layout") }
    state.absmax = .plain([1, 2])
    let wrongAbsmax = QuantizedTensor(
      format: "fp4", shape: [1, 64], originalDType: .float32, layout: .codebook4Bit(packed: packed, state: state))
    #expect(throws: QuantError.self) { try dequantizeFP4(wrongAbsmax) }
    let truncatedPacked = try Tensor(Array(packed.bytes.prefix(10)), shape: [10, 1])
    let truncated = QuantizedTensor(
      format: "fp4", shape: [1, 64], originalDType: .float32,
      layout: .codebook4Bit(packed: truncatedPacked, state: try #require(Self.state(of: quantized))))
    #expect(throws: QuantError.self) { try dequantizeFP4(truncated) }
    #expect(throws: QuantError.self) { try format.checkpointTensors(for: truncated, weightName: "w") }
    #expect(throws: QuantError.self) { try dequantizeFP4(quantized, to: .int8) }
    let eightBit = try quantizeBlockwise(values)
    #expect(throws: QuantError.self) { try dequantizeFP4(eightBit) }
    #expect(throws: QuantError.self) { try matmulFP4(values, eightBit) }
  }

  static func state(of tensor: QuantizedTensor) -> QuantState? {
    if case .codebook4Bit(_, let state) = tensor.layout { state } else { nil }
  }

  @Test("checkpoint tensors round-trip through a TensorSource", arguments: [false, true])
  func checkpointRoundTrip(nested: Bool) throws {
    let format = FP4Format()
    let input = try Tensor(converting: Array(Self.normal.prefix(3 * 333)), to: .bfloat16, shape: [3, 333])
    let quantized = try format.quantize(
      input,
      parameters: FormatParameters(["blocksize": .int(128), "double_quant": .bool(nested), "quant_storage": .string("float16")]))
    let written = try format.checkpointTensors(for: quantized, weightName: "layer.weight")
    let expectedNames =
      ["layer.weight", "layer.weight.absmax", "layer.weight.quant_map"]
      + (nested ? ["layer.weight.nested_absmax", "layer.weight.nested_quant_map"] : [])
      + ["layer.weight.quant_state.bitsandbytes__fp4"]
    #expect(written.map(\.name) == expectedNames)
    let companions =
      format.companionTensorNames(for: "layer.weight")
      + (nested ? FP4.codec.nestedCompanionTensorNames(for: "layer.weight") : [])
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
    for companion in written.map(\.name) where !companion.hasSuffix("bitsandbytes__fp4") {
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
    tensors["layer.weight.quant_map"] = try Tensor(NF4CodebookForTests.values)
    #expect(throws: QuantError.self, "an nf4 quant_map under an fp4 state") {
      try format.loadCheckpoint(weightName: "layer.weight", from: InMemoryTensorSource(tensors))
    }
    tensors = InMemoryTensorSource(written).tensors
    tensors["layer.weight.quant_state.bitsandbytes__fp4"] = try Tensor(Array("{\"quant_type\": \"fp4\"}".utf8))
    #expect(throws: QuantError.self) {
      try format.loadCheckpoint(weightName: "layer.weight", from: InMemoryTensorSource(tensors))
    }
  }

  @Test("the transformers FP4 checkpoint loads, rewrites byte for byte, and re-quantizes")
  func transformersCheckpoint() throws {
    let report = try BitsAndBytesCheckpointHarness.run(
      format: FP4Format(), variant: "tiny-llama-bnb-fp4",
      parameters: FormatParameters(["blocksize": .int(64), "double_quant": .bool(false)]))
    print("FP4 checkpoint: \(report)")
    #expect(report.weights == 14)
    #expect(report.failures.isEmpty, "\(report.failures.prefix(10).joined(separator: "\n"))")
    #expect(report.offsetDifferences == 0)
  }

  @Test("the plugin registers fp4 with its alias; matmulFP4 equals dequantize-then-multiply")
  func pluginAndMatmul() throws {
    let registry = QuantRegistry()
    try registry.install(FP4Plugin())
    #expect(try registry.format(named: "bnb-fp4").name == "fp4")
    #expect(
      try registry.defaultParameters(forFormat: "fp4")
        == FormatParameters(
          ["blocksize": .int(64), "double_quant": .bool(false), "quant_storage": .string("uint8")]))
    #expect(FP4.isAvailable && FP4Format().isBitsAndBytesCompatible)

    let weight = try quantizeFP4(try Tensor(Array(Self.normal.prefix(6 * 64)), shape: [6, 64]))
    let input = try Tensor(Array(Self.normal.suffix(2 * 64)), shape: [2, 64])
    let bias = try Tensor([Float](repeating: 0.5, count: 6))
    let output = try matmulFP4(input, weight, bias: bias)
    #expect(output.shape == [2, 6])
    let w = try dequantizeFP4(weight).scalars(as: Float.self)
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

/// NF4's codebook, to plant a wrong `quant_map` (the FP4 module does not import FormatNF4).
enum NF4CodebookForTests {
  static let values: [Float] = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
    -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ]
}
