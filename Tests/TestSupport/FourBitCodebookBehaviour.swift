public import Blockwise4Bit
import DoubleQuant
import FormatConformance
public import QuantCore

/// What a 16-entry codebook format's tests need to know about it: NF4's and FP4's test targets each
/// describe their codebook once and run every ``FourBitCheck`` on it.
public struct FourBitCodebookSubject<Codebook: FourBitCodebook>: Sendable {
  /// bitsandbytes' error bars for the codebook.
  public var bars: FourBitFormatChecks.Bars
  /// Another quant type's codebook, planted as a contradicting `quant_map`.
  public var foreignQuantMap: [Float]
  /// The codebook's key in `bnb/fourbit_*.safetensors` (`code/<key>`).
  public var fixtureKey: String
  /// `Codebook.codec.quantizer.indexOfSortedPosition` as torch's argsort gives it.
  public var sortedOrder: [UInt8]
  /// The transformers checkpoint under `Tests/Fixtures/hf`, and whether it is double-quantized.
  public var checkpoint: (variant: String, doubleQuant: Bool)
  /// Whether decoded zeros must match bitsandbytes' sign too (FP4's C++ table holds -0.0).
  public var signedZerosMatch: Bool
  /// The conformance suite's bar on the relative RMS round-trip error.
  public var maxRelativeRMSError: Float

  /// Describes a codebook.
  ///
  /// - Parameters:
  ///   - bars: Error bars per blocksize.
  ///   - foreignQuantMap: Another codebook's values.
  ///   - fixtureKey: The fixture key.
  ///   - sortedOrder: The argsort order of the codebook.
  ///   - checkpoint: The transformers fixture variant and its double-quant setting.
  ///   - signedZerosMatch: Whether zero signs must match.
  ///   - maxRelativeRMSError: The conformance bar.
  public init(
    bars: FourBitFormatChecks.Bars, foreignQuantMap: [Float], fixtureKey: String, sortedOrder: [UInt8],
    checkpoint: (variant: String, doubleQuant: Bool), signedZerosMatch: Bool, maxRelativeRMSError: Float
  ) {
    self.maxRelativeRMSError = maxRelativeRMSError
    self.bars = bars
    self.foreignQuantMap = foreignQuantMap
    self.fixtureKey = fixtureKey
    self.sortedOrder = sortedOrder
    self.checkpoint = checkpoint
    self.signedZerosMatch = signedZerosMatch
  }

  var checks: FourBitFormatChecks {
    FourBitFormatChecks(format: Codebook4BitFormat<Codebook>(), bars: bars, foreignQuantMap: foreignQuantMap)
  }
}

/// Every behaviour check of a 16-entry codebook format, as test arguments.
public enum FourBitCheck: String, Sendable, CaseIterable, CustomStringConvertible {
  case statisticalBars, halfPrecisionBars, compressedStatistics, identity, quantStorage, badInput, checkpointRoundTrip
  case transformersCheckpoint, pluginAndFunctions, conformance, codebookFixture, bitsAndBytesFixtures

  /// The check's name.
  public var description: String { rawValue }

  /// Runs the check.
  ///
  /// - Parameter subject: The codebook under test.
  /// - Returns: Failures, one line each (empty when it passes).
  /// - Throws: When a fixture cannot be read.
  public func run<Codebook: FourBitCodebook>(on subject: FourBitCodebookSubject<Codebook>) throws -> [String] {
    let checks = subject.checks
    let format = Codebook4BitFormat<Codebook>()
    switch self {
    case .statisticalBars:
      return try [32, 64, 128, 256, 512, 1024, 2048, 4096].flatMap { try checks.statisticalBars(blocksize: $0, dtype: .float32) }
    case .halfPrecisionBars:
      return try [DType.float16, .bfloat16].flatMap { try checks.statisticalBars(blocksize: 64, dtype: $0) }
    case .compressedStatistics: return try [32, 64, 128].flatMap { try checks.compressedStatistics(blocksize: $0) }
    case .identity: return try [DType.float32, .float16, .bfloat16].flatMap { try checks.identity(dtype: $0) }
    case .quantStorage: return try checks.quantStorage()
    case .badInput:
      let values = try Tensor(Array(FourBitFormatChecks.normal.prefix(64)), shape: [1, 64])
      let eightBit = try quantizeBlockwise(values)
      let wrongFormat = (try? Codebook.dequantize(eightBit)) == nil ? [] : ["an 8-bit tensor was decoded as \(Codebook.name)"]
      return try checks.badInput() + wrongFormat
    case .checkpointRoundTrip: return try [false, true].flatMap { try checks.checkpointRoundTrip(nested: $0) }
    case .transformersCheckpoint: return try transformersCheckpoint(subject)
    case .pluginAndFunctions: return try pluginAndFunctions(subject)
    case .conformance:
      return ConformanceSuite(
        format: format,
        parameterSets: [
          FormatParameters(),
          FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]),
        ],
        maxRelativeRMSError: subject.maxRelativeRMSError
      ).run().map { "\($0)" }
    case .codebookFixture:
      let expected = try FixtureSafeTensors("bnb/fourbit_f32.safetensors").require("code/\(subject.fixtureKey)")
      var failures: [String] = []
      if Codebook.codebook.map(\.bitPattern) != (try expected.scalars(as: Float.self)).map(\.bitPattern) {
        failures.append("the codebook differs from get_4bit_type('\(subject.fixtureKey)')")
      }
      if Codebook.codec.quantizer.indexOfSortedPosition != subject.sortedOrder { failures.append("argsort order differs") }
      return failures
    case .bitsAndBytesFixtures: return try bitsAndBytesFixtures(subject)
    }
  }

  private func transformersCheckpoint<Codebook: FourBitCodebook>(_ subject: FourBitCodebookSubject<Codebook>) throws
    -> [String]
  {
    let format = Codebook4BitFormat<Codebook>()
    let parameters = FormatParameters(["blocksize": .int(64), "double_quant": .bool(subject.checkpoint.doubleQuant)])
    let report = try BitsAndBytesCheckpointHarness.run(
      format: format, variant: subject.checkpoint.variant, parameters: parameters)
    var failures = Array(report.failures.prefix(10))
    if report.weights != 14 { failures.append("\(report.weights) weights, expected 14") }
    if report.offsetDifferences != 0 { failures.append("\(report.offsetDifferences) nested offsets differ") }
    guard subject.checkpoint.doubleQuant else { return failures }
    // With bitsandbytes' CPU 8-bit kernel for the nested codes, re-quantization gives the checkpoint byte for byte.
    var cpuParameters = parameters
    cpuParameters["double_quant_rule"] = .string("cpu")
    let cpu = try BitsAndBytesCheckpointHarness.run(
      format: format, variant: subject.checkpoint.variant, parameters: cpuParameters)
    if !(cpu.failures.isEmpty && cpu.nestedCodeDifferences == 0 && cpu.offsetDifferences == 0) {
      failures.append("cpu rule: \(cpu)")
    }
    if cpu.tensorsRequantized != 84 { failures.append("cpu rule re-quantized \(cpu.tensorsRequantized) tensors, expected 84") }
    return failures
  }

  private func pluginAndFunctions<Codebook: FourBitCodebook>(_ subject: FourBitCodebookSubject<Codebook>) throws -> [String] {
    let checks = subject.checks
    var failures: [String] = []
    let registry = QuantRegistry()
    try registry.install(Codebook4BitPlugin<Codebook>())
    for alias in Codebook.aliases where (try? registry.format(named: alias).name) != Codebook.name {
      failures.append("alias \(alias) does not name \(Codebook.name)")
    }
    let expectedDefaults = FormatParameters([
      "blocksize": .int(64), "double_quant": .bool(false), "quant_storage": .string("uint8"),
      "double_quant_rule": .string("default"),
    ])
    if try registry.defaultParameters(forFormat: Codebook.name) != expectedDefaults { failures.append("defaults differ") }
    let format = Codebook4BitFormat<Codebook>()
    if !(Codebook.isAvailable && format.isBitsAndBytesCompatible == (Codebook.bitsAndBytesQuantType != nil)) {
      failures.append("availability or compatibility")
    }
    let input = try Tensor(converting: Array(FourBitFormatChecks.normal.prefix(4 * 128)), to: .float16, shape: [4, 128])
    let viaFunction = try Codebook.quantize(input, blocksize: 32, doubleQuant: true, quantStorage: .bfloat16)
    let viaFormat = try format.quantize(
      input,
      parameters: FormatParameters(["blocksize": .int(32), "double_quant": .bool(true), "quant_storage": .string("bfloat16")]))
    if try Codebook.dequantize(viaFunction).bytes != format.dequantize(viaFormat, to: .float16).bytes {
      failures.append("the function and the format disagree")
    }
    if try Codebook.dequantize(viaFunction, to: .float32).dtype != .float32 { failures.append("dequantize ignores dtype") }
    return try failures + checks.matmul { x, w, b in try ReferenceBackend().linear(x, weight: w, bias: b) }
  }

  private func bitsAndBytesFixtures<Codebook: FourBitCodebook>(_ subject: FourBitCodebookSubject<Codebook>) throws
    -> [String]
  {
    var failures: [String] = []
    for dtypeKey in ["f32", "f16", "bf16"] {
      let report = try FourBitFixtureHarness.run(
        quantType: Codebook.name, dtypeKey: dtypeKey,
        quantize: { input, blocksize, nested in try Codebook.quantize(input, blocksize: blocksize, doubleQuant: nested) },
        nest: { absmax, offset in try doubleQuant(absmax: absmax, offset: offset) },
        dequantize: { tensor, dtype in try Codebook.dequantize(tensor, to: dtype) })
      failures += report.failures.prefix(10).map { "\(dtypeKey): \($0)" }
      if report.configurations <= 100 { failures.append("\(dtypeKey): only \(report.configurations) configurations") }
      if report.nestedCodesDifferingFromCPUKernel != report.nestedCodesDifferingFromCPUKernelInManifest {
        failures.append("\(dtypeKey): nested codes differ from the manifest's CPU-kernel count")
      }
      if report.offsetDifferences != 0 { failures.append("\(dtypeKey): \(report.offsetDifferences) offsets differ") }
      if subject.signedZerosMatch && report.signedZeroDifferences != 0 {
        failures.append("\(dtypeKey): \(report.signedZeroDifferences) signed zeros differ")
      }
    }
    return failures
  }
}
