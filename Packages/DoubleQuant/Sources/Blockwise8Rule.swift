import QuantCore

/// The rule 8-bit blockwise quantization (and so double quantization) uses to pick codes.
///
/// bitsandbytes runs two different rules for the same call, depending on the build:
/// - its default (pure torch) backend, also the Apple MPS fallback, picks the exact nearest code;
/// - its CPU C++ kernel, which a standard x86-64 or arm64 install uses for CPU tensors, looks codes up in a
///   65536-bin table and differs on about 0.15 % of random inputs, on exact zeros (index 131) and on all-zero blocks
///   (index 0, absmax 0).
///
/// The default rule is this package's contract. The CPU rule reproduces the bytes a CPU build of bitsandbytes 0.50
/// writes (for example the nested absmax in a checkpoint `save_pretrained` wrote on a CPU machine).
public enum Blockwise8Rule: String, Sendable, CaseIterable, Codable {
  /// The default backend: `v = x · (1/absmax)` (division for the trailing partial block), clamp to [-1, 1],
  /// `bucketize` on the float32 midpoints (ties to the lower index), an all-zero block gets the index of 0.0.
  case defaultBackend = "default"
  /// The CPU C++ kernel (`quantize_cpu_impl`): `v = x · (1/absmax)` for every block, clamp, bin
  /// `⌊(v + 1) · 0.5 · 65535 + 0.5⌋`, then the code nearest to that bin's centre; an all-zero block gets index 0.
  case cpuLookupTable = "cpu"
}

/// bitsandbytes' CPU 8-bit quantizer, reproduced: a 65536-entry table from bins of [-1, 1] to code indices.
///
/// Reproduces every code and absmax of the bitsandbytes 0.50 fixtures (73,440 blockwise codes and 6,798 nested
/// codes). The kernel's float expressions are evaluated without fused multiply-add here; a build of bitsandbytes that
/// contracted `t · 65535 + 0.5` into an FMA could differ on inputs within an ulp of a bin edge. In a block that mixes
/// NaN with numbers, NaN is ignored by the absmax (scalar `std::max`); an all-NaN block gets absmax 0 and index 0.
struct CPULookupTableQuantizer {
  let table: [UInt8]

  init(code: [Float]) {
    // build_quantize_lut: midpoints 0.5f * (c[i] + c[i+1]); bin i has centre -1 + (2i)/65535.
    let midpoints = (0..<(code.count - 1)).map { Float(0.5) * (code[$0] + code[$0 + 1]) }
    var table = [UInt8](repeating: 0, count: 65536)
    var index = 0
    for bin in 0..<65536 {
      let centre: Float = -1 + (2 * Float(bin)) / Float(65535)
      while index < midpoints.count && midpoints[index] < centre { index += 1 }
      table[bin] = UInt8(truncatingIfNeeded: index)
    }
    self.table = table
  }

  /// `norm_to_lut_index`: clamp, then `(v + 1) * 0.5 * 65535 + 0.5` truncated; NaN converts to bin 0 as on x86-64.
  static func bin(_ value: Float) -> Int {
    guard !value.isNaN else { return 0 }
    let clamped = value < -1 ? -1 : (value > 1 ? 1 : value)
    return Int((clamped + 1) * 0.5 * 65535 + 0.5)
  }

  func quantize(_ values: [Float], blocksize: Int) -> (codes: [UInt8], absmax: [Float]) {
    var codes = [UInt8](repeating: 0, count: values.count)
    var absmax: [Float] = []
    absmax.reserveCapacity(values.count.dividedRoundingUp(by: blocksize))
    var start = 0
    while start < values.count {
      let end = min(start + blocksize, values.count)
      var maximum: Float = 0
      for j in start..<end {
        let magnitude = values[j].magnitude
        maximum = maximum < magnitude ? magnitude : maximum
      }
      absmax.append(maximum)
      if maximum != 0 {
        let reciprocal = 1 / maximum
        for j in start..<end { codes[j] = table[Self.bin(values[j] * reciprocal)] }
      }
      start = end
    }
    return (codes, absmax)
  }
}
