import BitsAndBytes
import Blockwise4Bit
import DoubleQuant
import FormatFP4
import QuantCore
import TestSupport
import Testing

@Suite("FP4 behaviour")
struct FP4Tests {
  /// bitsandbytes' test_4bit_quant (μ, σ) of mean absolute and relative error for randn, per blocksize.
  static let bars: FourBitFormatChecks.Bars = [
    32: ((0.088925, 0.000091), (0.242443, 0.000330)), 64: ((0.096543, 0.000111), (0.260125, 0.000379)),
    128: ((0.102969, 0.000134), (0.275817, 0.000433)), 256: ((0.108684, 0.000182), (0.289831, 0.000497)),
    512: ((0.114115, 0.000234), (0.302881, 0.000583)), 1024: ((0.119333, 0.000320), (0.315000, 0.000757)),
    2048: ((0.124556, 0.000455), (0.326607, 0.000955)), 4096: ((0.129536, 0.000612), (0.337169, 0.001239)),
  ]

  static let checks = FourBitFormatChecks(format: FP4Format(), bars: bars, foreignQuantMap: NF4CodebookForTests.values)

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
    #expect(throws: QuantError.self) { try dequantizeFP4(eightBit) }
    #expect(throws: QuantError.self) { try matmulFP4(values, eightBit) }
  }

  @Test("checkpoint tensors round-trip through a TensorSource", arguments: [false, true])
  func checkpointRoundTrip(nested: Bool) throws {
    let failures = try Self.checks.checkpointRoundTrip(nested: nested)
    #expect(failures.isEmpty, "\(failures)")
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

  @Test("the functional API and the plugin: quantizeFP4, dequantizeFP4, matmulFP4, registry alias")
  func functionalAPIAndPlugin() throws {
    let registry = QuantRegistry()
    try registry.install(FP4Plugin())
    #expect(try registry.format(named: "bnb-fp4").name == "fp4")
    #expect(
      try registry.defaultParameters(forFormat: "fp4")
        == FormatParameters([
          "blocksize": .int(64), "double_quant": .bool(false), "quant_storage": .string("uint8"),
          "double_quant_rule": .string("default"),
        ]))
    #expect(FP4.isAvailable && FP4Format().isBitsAndBytesCompatible)

    let input = try Tensor(converting: Array(FourBitFormatChecks.normal.prefix(4 * 128)), to: .float16, shape: [4, 128])
    let viaFunction = try quantizeFP4(input, blocksize: 32, doubleQuant: true, quantStorage: .bfloat16)
    let viaFormat = try FP4Format().quantize(
      input,
      parameters: FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]))
    #expect(try dequantizeFP4(viaFunction).bytes == (try FP4Format().dequantize(viaFormat, to: .float16)).bytes)
    #expect(try dequantizeFP4(viaFunction, to: .float32).dtype == .float32)
    let failures = try Self.checks.matmul { x, w, b in try matmulFP4(x, w, bias: b, backend: ReferenceBackend()) }
    #expect(failures.isEmpty, "\(failures)")
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
