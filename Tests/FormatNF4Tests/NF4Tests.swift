import BitsAndBytes
import Blockwise4Bit
import DoubleQuant
import FormatNF4
import QuantCore
import TestSupport
import Testing

@Suite("NF4 behaviour")
struct NF4Tests {
  /// bitsandbytes' test_4bit_quant (μ, σ) of mean absolute and relative error for randn, per blocksize.
  static let bars: FourBitFormatChecks.Bars = [
    32: ((0.067746, 0.000069), (0.189726, 0.000304)), 64: ((0.072798, 0.000074), (0.203339, 0.000340)),
    128: ((0.076831, 0.000091), (0.215237, 0.000391)), 256: ((0.080337, 0.000102), (0.226105, 0.000398)),
    512: ((0.083547, 0.000143), (0.236079, 0.000544)), 1024: ((0.086610, 0.000187), (0.245370, 0.000600)),
    2048: ((0.089592, 0.000251), (0.254163, 0.000747)), 4096: ((0.092547, 0.000360), (0.262473, 0.000999)),
  ]

  static let checks = FourBitFormatChecks(format: NF4Format(), bars: bars, foreignQuantMap: FP4CodebookForTests.values)

  @Test(
    "round-trip error stays under bitsandbytes' μ+7σ bars (randn 256x1024, float32)",
    arguments: [32, 64, 128, 256, 512, 1024, 2048, 4096])
  func statisticalBars(blocksize: Int) throws {
    let failures = try Self.checks.statisticalBars(blocksize: blocksize, dtype: .float32)
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test("float16 and bfloat16 inputs meet the same bars at blocksize 64", arguments: [DType.float16, .bfloat16])
  func halfPrecisionBars(dtype: DType) throws {
    let failures = try Self.checks.statisticalBars(blocksize: 64, dtype: dtype)
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test("double-quantized statistics stay under test_4bit_compressed_stats' bars", arguments: [32, 64, 128])
  func compressedStatistics(blocksize: Int) throws {
    let failures = try Self.checks.compressedStatistics(blocksize: blocksize)
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test("the identity matrix round-trips exactly", arguments: [DType.float32, .float16, .bfloat16])
  func identity(dtype: DType) throws {
    let failures = try Self.checks.identity(dtype: dtype)
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test("quant_storage only changes the view of the packed bytes")
  func quantStorage() throws {
    let failures = try Self.checks.quantStorage()
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test("bad input and inconsistent state give typed errors")
  func badInput() throws {
    let failures = try Self.checks.badInput()
    #expect(failures.isEmpty, "\(failures)")
    let values = try Tensor(Array(FourBitFormatChecks.normal.prefix(64)), shape: [1, 64])
    let eightBit = try quantizeBlockwise(values)
    #expect(throws: QuantError.self) { try dequantizeNF4(eightBit) }
    #expect(throws: QuantError.self) { try matmulNF4(values, eightBit) }
  }

  @Test("checkpoint tensors round-trip through a TensorSource", arguments: [false, true])
  func checkpointRoundTrip(nested: Bool) throws {
    let failures = try Self.checks.checkpointRoundTrip(nested: nested)
    #expect(failures.isEmpty, "\(failures)")
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

    // With bitsandbytes' CPU 8-bit kernel for the nested codes, re-quantization gives the checkpoint byte for byte.
    let cpu = try BitsAndBytesCheckpointHarness.run(
      format: NF4Format(), variant: "tiny-llama-bnb-nf4-dq",
      parameters: FormatParameters(["blocksize": .int(64), "double_quant": .bool(true), "double_quant_rule": .string("cpu")]))
    #expect(cpu.failures.isEmpty && cpu.nestedCodeDifferences == 0 && cpu.offsetDifferences == 0, "\(cpu)")
    #expect(cpu.tensorsRequantized == 84)
  }

  @Test("the functional API and the plugin: quantizeNF4, dequantizeNF4, matmulNF4, registry alias")
  func functionalAPIAndPlugin() throws {
    let registry = QuantRegistry()
    try registry.install(NF4Plugin())
    #expect(try registry.format(named: "bnb-nf4").name == "nf4")
    #expect(
      try registry.defaultParameters(forFormat: "nf4")
        == FormatParameters([
          "blocksize": .int(64), "double_quant": .bool(false), "quant_storage": .string("uint8"),
          "double_quant_rule": .string("default"),
        ]))
    #expect(NF4.isAvailable && NF4Format().isBitsAndBytesCompatible)

    let input = try Tensor(converting: Array(FourBitFormatChecks.normal.prefix(4 * 128)), to: .float16, shape: [4, 128])
    let viaFunction = try quantizeNF4(input, blocksize: 32, doubleQuant: true, quantStorage: .bfloat16)
    let viaFormat = try NF4Format().quantize(
      input,
      parameters: FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]))
    #expect(try dequantizeNF4(viaFunction).bytes == (try NF4Format().dequantize(viaFormat, to: .float16)).bytes)
    #expect(try dequantizeNF4(viaFunction, to: .float32).dtype == .float32)
    let failures = try Self.checks.matmul { x, w, b in try matmulNF4(x, w, bias: b, backend: ReferenceBackend()) }
    #expect(failures.isEmpty, "\(failures)")
  }
}

/// FP4's codebook, to plant a wrong `quant_map` (the NF4 module does not import FormatFP4).
enum FP4CodebookForTests {
  static let values: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3].map { $0 / 12 }
}
