import FormatConformance
public import QuantCore

/// Behaviour checks shared by the 4-bit codebook formats (NF4, FP4), written against the public
/// ``QuantizationFormat`` API. Each check returns its failures, one line each (empty when it passes).
public struct FourBitFormatChecks: Sendable {
  /// bitsandbytes' test_4bit_quant (μ, σ) of the mean absolute and relative round-trip error of randn, per blocksize.
  public typealias Bars = [Int: (absolute: (Double, Double), relative: (Double, Double))]

  /// The format under test.
  public var format: any QuantizationFormat
  /// Its error bars.
  public var bars: Bars
  /// Another format's 16-entry codebook, planted as a contradicting `quant_map`.
  public var foreignQuantMap: [Float]

  /// Describes the checks.
  ///
  /// - Parameters:
  ///   - format: The format under test.
  ///   - bars: The error bars per blocksize.
  ///   - foreignQuantMap: A codebook of the other quant type.
  public init(format: any QuantizationFormat, bars: Bars, foreignQuantMap: [Float]) {
    self.format = format
    self.bars = bars
    self.foreignQuantMap = foreignQuantMap
  }

  /// Seeded standard-normal data, 256 × 1024 (a quarter of bitsandbytes' test size, to keep debug builds quick).
  public static let normal: [Float] = {
    var generator = SeededNormal(seed: 1024)
    return generator.values(256 * 1024)
  }()

  /// Mean absolute and relative error, as bitsandbytes' tests compute them.
  public static func errors(_ input: Tensor, _ output: Tensor) throws -> (absolute: Double, relative: Double) {
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

  private func roundTrip(_ input: Tensor, _ parameters: [String: ConfigValue]) throws -> Tensor {
    try format.dequantize(try format.quantize(input, parameters: FormatParameters(parameters)), to: input.dtype)
  }

  /// The round-trip error of randn stays under μ + 7σ.
  ///
  /// - Parameters:
  ///   - blocksize: A blocksize with bars.
  ///   - dtype: The input dtype.
  /// - Returns: Failures.
  public func statisticalBars(blocksize: Int, dtype: DType) throws -> [String] {
    guard let bar = bars[blocksize] else { return ["no bars for blocksize \(blocksize)"] }
    let input = try Tensor(converting: Self.normal, to: dtype, shape: [256, 1024])
    let output = try roundTrip(input, ["blocksize": .int(blocksize)])
    guard output.dtype == dtype else { return ["output dtype \(output.dtype)"] }
    let (absolute, relative) = try Self.errors(input, output)
    var failures: [String] = []
    if !(absolute < bar.absolute.0 + 7 * bar.absolute.1) { failures.append("bs \(blocksize) \(dtype): absolute \(absolute)") }
    if !(relative < bar.relative.0 + 7 * bar.relative.1) { failures.append("bs \(blocksize) \(dtype): relative \(relative)") }
    return failures
  }

  /// Double-quantized statistics stay under test_4bit_compressed_stats' bars (0.11 absolute, 0.28 relative).
  ///
  /// - Parameter blocksize: The blocksize.
  /// - Returns: Failures.
  public func compressedStatistics(blocksize: Int) throws -> [String] {
    let input = try Tensor(Array(Self.normal.prefix(64 * 1024)), shape: [64, 1024])
    let (absolute, relative) = try Self.errors(
      input, try roundTrip(input, ["blocksize": .int(blocksize), "double_quant": .bool(true)]))
    return absolute < 0.11 && relative < 0.28 ? [] : ["bs \(blocksize): absolute \(absolute), relative \(relative)"]
  }

  /// The identity matrix round-trips exactly, plain and double-quantized.
  ///
  /// - Parameter dtype: The input dtype.
  /// - Returns: Failures.
  public func identity(dtype: DType) throws -> [String] {
    let size = 64
    let eye = (0..<(size * size)).map { $0 / size == $0 % size ? Float(1) : 0 }
    let input = try Tensor(converting: eye, to: dtype, shape: [size, size])
    var failures: [String] = []
    for blocksize in [32, 64, 4096] {
      for nested in [false, true] {
        let output = try roundTrip(input, ["blocksize": .int(blocksize), "double_quant": .bool(nested)])
        if output.bytes != input.bytes { failures.append("bs \(blocksize), double quant \(nested)") }
      }
    }
    return failures
  }

  /// `quant_storage` only changes the dtype and shape of the packed tensor, never its bytes or the decoding.
  ///
  /// - Returns: Failures.
  public func quantStorage() throws -> [String] {
    let input = try Tensor(Array(Self.normal.prefix(8 * 64)), shape: [8, 64])
    let reference = try format.quantize(input, parameters: FormatParameters())
    guard case .codebook4Bit(let packed, _) = reference.layout else { return ["layout \(reference.layout.kind)"] }
    var failures: [String] = []
    if packed.shape != [256, 1] || packed.dtype != .uint8 { failures.append("uint8 packed is \(packed.dtype)\(packed.shape)") }
    let expectedDecoding = try format.dequantize(reference, to: .float32).bytes
    for (storage, rows) in [(DType.float16, 128), (.bfloat16, 128), (.float32, 64), (.int8, 256), (.float64, 32)] {
      let viewed = try format.quantize(input, parameters: FormatParameters(["quant_storage": .string(storage.rawValue)]))
      guard case .codebook4Bit(let other, _) = viewed.layout else { return ["layout \(viewed.layout.kind)"] }
      if other.dtype != storage || other.shape != [rows, 1] || other.bytes != packed.bytes {
        failures.append("\(storage): packed is \(other.dtype)\(other.shape)")
      }
      if try format.dequantize(viewed, to: .float32).bytes != expectedDecoding { failures.append("\(storage): decoding differs") }
    }
    // 7 elements pack into 4 bytes, which cannot be viewed as float64.
    failures += refuses("7 elements as float64") {
      _ = try format.quantize(
        try Tensor(Array(Self.normal.prefix(7))), parameters: FormatParameters(["quant_storage": .string("float64")]))
    }
    return failures
  }

  /// Bad input and inconsistent state give typed errors.
  ///
  /// - Returns: Failures.
  public func badInput() throws -> [String] {
    let values = try Tensor(Array(Self.normal.prefix(64)), shape: [1, 64])
    var failures: [String] = []
    failures += refuses("an empty tensor", expecting: .emptyTensor(context: "\(format.name) quantization")) {
      _ = try format.quantize(try Tensor([Float]()), parameters: FormatParameters())
    }
    failures += refuses(
      "blocksize 48", expecting: .unsupportedBlocksize(48, supported: [32, 64, 128, 256, 512, 1024, 2048, 4096])
    ) {
      _ = try format.quantize(values, parameters: FormatParameters(["blocksize": .int(48)]))
    }
    failures += refuses("int32 input") {
      _ = try format.quantize(try Tensor([Int32](repeating: 1, count: 8)), parameters: FormatParameters())
    }
    failures += refuses("float8 storage") {
      _ = try format.quantize(values, parameters: FormatParameters(["quant_storage": .string("float8_e4m3fn")]))
    }
    failures += refuses("a non-boolean double_quant") {
      _ = try format.quantize(values, parameters: FormatParameters(["double_quant": .int(1)]))
    }
    let quantized = try format.quantize(values, parameters: FormatParameters())
    guard case .codebook4Bit(let packed, let state) = quantized.layout else { return ["layout \(quantized.layout.kind)"] }
    var wrongAbsmax = state
    wrongAbsmax.absmax = .plain([1, 2])
    failures += refuses("two absmax for one block") {
      _ = try format.dequantize(
        QuantizedTensor(
          format: format.name, shape: [1, 64], originalDType: .float32, layout: .codebook4Bit(packed: packed, state: wrongAbsmax)),
        to: .float32)
    }
    let truncated = QuantizedTensor(
      format: format.name, shape: [1, 64], originalDType: .float32,
      layout: .codebook4Bit(packed: try Tensor(Array(packed.bytes.prefix(10)), shape: [10, 1]), state: state))
    failures += refuses("truncated packed data") { _ = try format.dequantize(truncated, to: .float32) }
    failures += refuses("writing truncated packed data") { _ = try format.checkpointTensors(for: truncated, weightName: "w") }
    failures += refuses("decoding to int8") { _ = try format.dequantize(quantized, to: .int8) }
    return failures
  }

  /// Checkpoint tensors round-trip through a `TensorSource`; missing, truncated or contradictory companions are refused.
  ///
  /// - Parameters:
  ///   - nested: Whether to double-quantize.
  /// - Returns: Failures.
  public func checkpointRoundTrip(nested: Bool) throws -> [String] {
    var failures: [String] = []
    let weight = "layer.weight"
    let input = try Tensor(converting: Array(Self.normal.prefix(3 * 333)), to: .bfloat16, shape: [3, 333])
    let quantized = try format.quantize(
      input,
      parameters: FormatParameters(
        ["blocksize": .int(128), "double_quant": .bool(nested), "quant_storage": .string("float16")]))
    let written = try format.checkpointTensors(for: quantized, weightName: weight)
    let stateName = "\(weight).quant_state.bitsandbytes__\(format.name)"
    let expectedNames =
      [weight, "\(weight).absmax", "\(weight).quant_map"]
      + (nested ? ["\(weight).nested_absmax", "\(weight).nested_quant_map"] : []) + [stateName]
    if written.map(\.name) != expectedNames { failures.append("names \(written.map(\.name))") }
    // Companions are every key that may be stored (nested ones included); each written one must be among them.
    let companions = Set(format.companionTensorNames(for: weight))
    if !Set(expectedNames.dropFirst()).isSubset(of: companions) || companions.count != 5 {
      failures.append("companions \(companions.sorted())")
    }
    let source = InMemoryTensorSource(written)
    guard let loaded = try format.loadCheckpoint(weightName: weight, from: source) else { return failures + ["not loaded"] }
    if loaded.shape != [3, 333] || loaded.originalDType != .bfloat16 {
      failures.append("loaded \(loaded.originalDType)\(loaded.shape)")
    }
    let rewritten = try format.checkpointTensors(for: loaded, weightName: weight)
    if rewritten.map(\.name) != written.map(\.name) { failures.append("rewritten names \(rewritten.map(\.name))") }
    for (a, b) in zip(rewritten, written)
    where a.tensor.dtype != b.tensor.dtype || a.tensor.shape != b.tensor.shape || a.tensor.bytes != b.tensor.bytes {
      failures.append("\(a.name) differs after load → write")
    }
    if try format.dequantize(loaded, to: .bfloat16).bytes != (try format.dequantize(quantized, to: .bfloat16)).bytes {
      failures.append("reloaded decoding differs")
    }
    if try format.loadCheckpoint(weightName: "missing.weight", from: source) != nil { failures.append("loaded a missing weight") }

    for companion in written.map(\.name) where companion != stateName {
      failures += refuses("loading without \(companion)") {
        _ = try format.loadCheckpoint(weightName: weight, from: InMemoryTensorSource(written.filter { $0.name != companion }))
      }
      var tensors = source.tensors
      if let original = tensors[companion] {
        tensors[companion] = try Tensor(dtype: original.dtype, shape: [original.elementCount - 1]) { _ in }
      }
      failures += refuses("loading a truncated \(companion)") {
        _ = try format.loadCheckpoint(weightName: weight, from: InMemoryTensorSource(tensors))
      }
    }
    var tensors = source.tensors
    tensors["\(weight).quant_map"] = try Tensor(foreignQuantMap)
    failures += refuses("a quant_map of the other quant type") {
      _ = try format.loadCheckpoint(weightName: weight, from: InMemoryTensorSource(tensors))
    }
    let header = "{\"quant_type\": \"\(format.name)\", \"blocksize\": 128, \"dtype\": \"bfloat16\", \"shape\": "
    for json in [
      "{\"quant_type\": \"\(format.name)\"}", header + "[-3, 333]}", header + "[\(Int.max), 4]}",
      header + "[\(Int.max)]}", header + "[3, 334]}",
      header + "[3, 333], \"nested_blocksize\": 0, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5}",
    ] {
      tensors = source.tensors
      tensors[stateName] = try Tensor(Array(json.utf8))
      failures += refuses("the JSON state \(json)") {
        _ = try format.loadCheckpoint(weightName: weight, from: InMemoryTensorSource(tensors))
      }
    }
    return failures
  }

  /// `ReferenceBackend.linear` equals a float32 product with the decoded weight, plus bias.
  ///
  /// - Parameter linear: The function under test (`matmulNF4` or `matmulFP4`).
  /// - Returns: Failures.
  public func matmul(_ linear: (Tensor, QuantizedTensor, Tensor?) throws -> Tensor) throws -> [String] {
    let weight = try format.quantize(
      try Tensor(Array(Self.normal.prefix(6 * 64)), shape: [6, 64]), parameters: FormatParameters())
    let input = try Tensor(Array(Self.normal.suffix(2 * 64)), shape: [2, 64])
    let output = try linear(input, weight, try Tensor([Float](repeating: 0.5, count: 6)))
    guard output.shape == [2, 6] else { return ["output shape \(output.shape)"] }
    let w = try format.dequantize(weight, to: .float32).scalars(as: Float.self)
    let x = try input.scalars(as: Float.self)
    let y = try output.scalars(as: Float.self)
    var failures: [String] = []
    for row in 0..<2 {
      for column in 0..<6 {
        var sum: Float = 0
        for k in 0..<64 { sum += x[row * 64 + k] * w[column * 64 + k] }
        if y[row * 6 + column] != sum + 0.5 { failures.append("y[\(row), \(column)]") }
      }
    }
    return failures
  }

  /// A failure unless `body` throws a `QuantError` (equal to `expected` when given).
  private func refuses(_ what: String, expecting expected: QuantError? = nil, _ body: () throws -> Void) -> [String] {
    do {
      try body()
      return ["\(what) was accepted"]
    } catch let error as QuantError {
      if let expected, error != expected { return ["\(what): \(error), expected \(expected)"] }
      return []
    } catch {
      return ["\(what): untyped error \(error)"]
    }
  }
}
