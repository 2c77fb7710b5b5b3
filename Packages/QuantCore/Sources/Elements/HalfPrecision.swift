/// Exact conversions between `Float` and the 16-bit float formats, on bit patterns.
///
/// Narrowing rounds to nearest, ties to even; NaN stays NaN (quiet, sign kept); infinities and
/// signed zeros are preserved. Widening is exact. These are the reference conversions: every
/// kernel must agree with them bit for bit.
public enum HalfPrecision {
  /// Rounds a `Float` to bfloat16 (round to nearest even) and returns its bit pattern.
  @inlinable
  public static func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
    let lsb = (bits >> 16) & 1
    return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ lsb) >> 16)
  }

  /// Widens a bfloat16 bit pattern to `Float` (exact).
  @inlinable
  public static func float(bfloat16Bits bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
  }

  /// Rounds a `Float` to IEEE binary16 (round to nearest even) and returns its bit pattern.
  @inlinable
  public static func float16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {
      // Infinity keeps its sign; NaN keeps its sign and top payload bits, forced quiet.
      return mantissa == 0 ? sign | 0x7C00 : sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
    }
    let unbiased = exponent - 127
    if unbiased > 15 { return sign | 0x7C00 }
    if unbiased >= -14 {
      // Normal result: keep 10 mantissa bits, round the 13 dropped bits to nearest even.
      var combined = UInt32(unbiased + 15) << 10 | (mantissa >> 13)
      let rest = mantissa & 0x1FFF
      if rest > 0x1000 || (rest == 0x1000 && combined & 1 == 1) { combined += 1 }
      return sign | UInt16(truncatingIfNeeded: combined)  // a carry into 0x7C00 is the correct overflow to inf
    }
    if unbiased < -25 { return sign }
    // Subnormal result: value = m * 2^-24 with m = full significand >> shift.
    let significand = mantissa | 0x80_0000
    let shift = UInt32(-unbiased - 1)  // 14 + 13 - 24 ... gives shift in 14...24
    var result = significand >> shift
    let rest = significand & ((1 << shift) - 1)
    let half: UInt32 = 1 << (shift - 1)
    if rest > half || (rest == half && result & 1 == 1) { result += 1 }
    return sign | UInt16(truncatingIfNeeded: result)
  }

  /// Widens an IEEE binary16 bit pattern to `Float` (exact).
  @inlinable
  public static func float(float16Bits bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits) & 0x3FF
    if exponent == 0x1F {
      return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
      let magnitude = Float(mantissa) * 0x1p-24
      return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
  }
}
