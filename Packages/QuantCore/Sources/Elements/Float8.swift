/// What an fp8 encoder does with a finite value beyond the format's largest magnitude (and with ±inf
/// for formats that cannot represent infinity).
public enum Float8OverflowPolicy: String, Sendable, CaseIterable, Codable {
  /// Clamp to ±max. torch ≥ 2.13 does this for `float8_e4m3fn`, infinities included.
  case saturate
  /// Produce NaN (E4M3FN) — what `ml_dtypes` and older torch do above 464.
  case nan
  /// Round as IEEE does: overflow to ±inf where the format has infinities (E5M2), NaN otherwise.
  case ieee
}

/// An 8-bit floating-point encoding: E4M3FN (no infinities, NaN = `S.1111.111`) or E5M2 (IEEE-like).
public enum Float8Encoding: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
  /// 1 sign, 4 exponent (bias 7), 3 mantissa bits; max 448; no infinities (torch `float8_e4m3fn`).
  case e4m3
  /// 1 sign, 5 exponent (bias 15), 2 mantissa bits; max 57344; ±inf and NaN (torch `float8_e5m2`).
  case e5m2

  /// The tensor dtype that stores this encoding.
  public var dtype: DType { self == .e4m3 ? .float8E4M3 : .float8E5M2 }

  /// The largest finite magnitude (448 or 57344).
  public var maxFinite: Float { self == .e4m3 ? 448 : 57344 }

  /// The name, `"e4m3"` or `"e5m2"`.
  public var description: String { rawValue }

  var mantissaBits: UInt32 { self == .e4m3 ? 3 : 2 }
  var bias: Int { self == .e4m3 ? 7 : 15 }
  /// Largest finite code without the sign bit.
  var maxFiniteCode: UInt32 { self == .e4m3 ? 0x7E : 0x7B }

  /// Decodes one fp8 byte exactly.
  ///
  /// - Parameter code: The fp8 bit pattern.
  /// - Returns: The value as `Float` (NaN for NaN codes, ±inf for E5M2 infinities).
  @inlinable
  public func decode(_ code: UInt8) -> Float {
    self == .e4m3 ? Float8Tables.e4m3[Int(code)] : Float8Tables.e5m2[Int(code)]
  }

  /// Encodes a `Float` with round-to-nearest-even.
  ///
  /// - Parameters:
  ///   - value: The value to encode.
  ///   - overflow: What to do beyond the largest finite value; the default matches torch 2.13
  ///     (`saturate` for E4M3FN, `ieee` for E5M2).
  /// - Returns: The fp8 bit pattern. NaN encodes as `0x7F` with the input's sign bit.
  public func encode(_ value: Float, overflow: Float8OverflowPolicy? = nil) -> UInt8 {
    let policy = overflow ?? (self == .e4m3 ? .saturate : .ieee)
    let bits = value.bitPattern
    let sign = UInt8(truncatingIfNeeded: (bits >> 24) & 0x80)
    if value.isNaN { return sign | 0x7F }
    let magnitude = Float(bitPattern: bits & 0x7FFF_FFFF)
    let code: UInt32
    let minNormalExponent = 1 - bias
    if magnitude < Float(sign: .plus, exponent: minNormalExponent, significand: 1) {
      // Subnormal range: scaling by a power of two is exact, then round the integer count of quanta.
      let quanta = magnitude * Float(sign: .plus, exponent: -(minNormalExponent - Int(mantissaBits)), significand: 1)
      code = UInt32(quanta.rounded(.toNearestOrEven))
    } else if magnitude.isInfinite {
      code = UInt32.max
    } else {
      let magnitudeBits = magnitude.bitPattern
      let shift = 23 - mantissaBits
      var combined = magnitudeBits >> shift
      let rest = magnitudeBits & ((1 << shift) - 1)
      let half: UInt32 = 1 << (shift - 1)
      if rest > half || (rest == half && combined & 1 == 1) { combined += 1 }
      code = combined - (UInt32(127 - bias) << mantissaBits)
    }
    if code <= maxFiniteCode { return sign | UInt8(code) }
    switch (policy, self) {
    case (.saturate, _): return sign | UInt8(maxFiniteCode)
    case (.ieee, .e5m2): return sign | 0x7C
    case (.nan, _), (.ieee, .e4m3): return sign | 0x7F
    }
  }
}

/// Decode tables for both fp8 encodings, built once from the bit layout.
public enum Float8Tables {
  /// All 256 E4M3FN codes decoded.
  public static let e4m3: [Float] = (0..<256).map { decodeE4M3(UInt8($0)) }
  /// All 256 E5M2 codes decoded.
  public static let e5m2: [Float] = (0..<256).map { decodeE5M2(UInt8($0)) }

  static func decodeE4M3(_ code: UInt8) -> Float {
    let negative = code & 0x80 != 0
    let exponent = Int((code >> 3) & 0xF)
    let mantissa = Float(code & 0x7)
    let magnitude: Float
    if exponent == 0xF && code & 0x7 == 0x7 {
      magnitude = .nan
    } else if exponent == 0 {
      magnitude = mantissa / 8 * 0x1p-6
    } else {
      magnitude = (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }
    return negative ? -magnitude : magnitude
  }

  static func decodeE5M2(_ code: UInt8) -> Float {
    let negative = code & 0x80 != 0
    let exponent = Int((code >> 2) & 0x1F)
    let mantissa = Float(code & 0x3)
    let magnitude: Float
    if exponent == 0x1F {
      magnitude = code & 0x3 == 0 ? .infinity : .nan
    } else if exponent == 0 {
      magnitude = mantissa / 4 * 0x1p-14
    } else {
      magnitude = (1 + mantissa / 4) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
    return negative ? -magnitude : magnitude
  }
}
