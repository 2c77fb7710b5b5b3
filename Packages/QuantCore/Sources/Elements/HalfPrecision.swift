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
  ///
  /// Branch-free so that loops over it vectorise: the exponent and mantissa are moved into float32
  /// position and rescaled by 2^112 (exact for normals and subnormals alike); infinities and NaNs
  /// (exponent 31) are selected separately and keep their payload.
  @inlinable
  public static func float(float16Bits bits: UInt16) -> Float {
    let h = UInt32(bits)
    let finite = (Float(bitPattern: (h & 0x7FFF) << 13) * 0x1p112).bitPattern
    let special = ((h & 0x3FF) << 13) | 0x7F80_0000
    let magnitude = h & 0x7C00 == 0x7C00 ? special : finite
    return Float(bitPattern: magnitude | ((h & 0x8000) << 16))
  }
}
