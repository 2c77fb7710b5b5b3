public import QuantCore

/// How much memory a quantized linear layer takes, with every piece of quantization state counted.
///
/// transformers' `get_memory_footprint` sums parameter and buffer sizes, so for bitsandbytes 4-bit
/// weights it counts the packed bytes but misses the absmax and nested statistics kept in the
/// `quant_state`; this accounting includes them (codebooks, absmax, nested absmax, the nested map and
/// offset, LLM.int8's `SCB`, fp8 scales).
public struct MemoryFootprint: Sendable, Equatable, CustomStringConvertible {
  /// Logical weight elements (`outFeatures × inFeatures`).
  public var parameters: Int
  /// Bytes of the quantized values themselves (packed nibbles, int8 or fp8 bytes).
  public var valueBytes: Int
  /// Bytes of the quantization state: scales, nested scales, codebooks, offsets.
  public var stateBytes: Int
  /// Bytes of the bias (0 without one).
  public var biasBytes: Int

  /// Creates an accounting from its parts.
  ///
  /// - Parameters:
  ///   - parameters: Logical weight elements.
  ///   - valueBytes: Bytes of quantized values.
  ///   - stateBytes: Bytes of scales and other state.
  ///   - biasBytes: Bytes of the bias.
  public init(parameters: Int, valueBytes: Int, stateBytes: Int, biasBytes: Int) {
    self.parameters = parameters
    self.valueBytes = valueBytes
    self.stateBytes = stateBytes
    self.biasBytes = biasBytes
  }

  /// Measures a quantized weight and optional bias.
  ///
  /// - Parameters:
  ///   - weight: The quantized weight.
  ///   - bias: The bias, if any.
  public init(weight: QuantizedTensor, bias: Tensor?) {
    let total = weight.layout.storageByteCount
    let values: Int
    switch weight.layout {
    case .codebook4Bit(let packed, _): values = packed.byteCount
    case .codebook8Bit(let codes, _): values = codes.byteCount
    case .int8Rowwise(let weights): values = weights.values.byteCount
    case .float8(let weights): values = weights.values.byteCount
    case .custom: values = total
    }
    self.init(
      parameters: weight.elementCount, valueBytes: values, stateBytes: total - values, biasBytes: bias?.byteCount ?? 0)
  }

  /// Everything: values, state and bias.
  public var totalBytes: Int { valueBytes + stateBytes + biasBytes }

  /// Stored bits per weight parameter (values and state, bias excluded): 4.127 for NF4 with blocksize
  /// 64 and double quantization, 4.5 without.
  public var bitsPerParameter: Double {
    parameters > 0 ? Double(8 * (valueBytes + stateBytes)) / Double(parameters) : 0
  }

  /// `"4.127 bits/param, 1.05 MB (values 1.05 MB, state 9.3 kB, bias 0 B)"`.
  public var description: String {
    "\(Self.fixed(bitsPerParameter, digits: 3)) bits/param, \(Self.bytes(totalBytes)) (values \(Self.bytes(valueBytes)), "
      + "state \(Self.bytes(stateBytes)), bias \(Self.bytes(biasBytes)))"
  }

  private static func bytes(_ count: Int) -> String {
    switch count {
    case ..<1000: "\(count) B"
    case ..<1_000_000: "\(fixed(Double(count) / 1e3, digits: 1)) kB"
    case ..<1_000_000_000: "\(fixed(Double(count) / 1e6, digits: 2)) MB"
    default: "\(fixed(Double(count) / 1e9, digits: 2)) GB"
    }
  }

  /// `value` with exactly `digits` decimals (no Foundation needed).
  private static func fixed(_ value: Double, digits: Int) -> String {
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    let whole = scaled / scale
    let fraction = String(scaled % scale)
    return digits == 0 ? "\(whole)" : "\(whole)." + String(repeating: "0", count: digits - fraction.count) + fraction
  }
}

/// The sum of several layers' footprints.
///
/// - Parameter footprints: The parts.
/// - Returns: Their total (bits per parameter is recomputed over all parameters).
public func combinedFootprint(_ footprints: [MemoryFootprint]) -> MemoryFootprint {
  footprints.reduce(MemoryFootprint(parameters: 0, valueBytes: 0, stateBytes: 0, biasBytes: 0)) {
    MemoryFootprint(
      parameters: $0.parameters + $1.parameters, valueBytes: $0.valueBytes + $1.valueBytes,
      stateBytes: $0.stateBytes + $1.stateBytes, biasBytes: $0.biasBytes + $1.biasBytes)
  }
}
