import QuantCore
import Testing

/// The nearest of two candidates in exact (double) arithmetic, ties to the even bit pattern.
private func nearest(_ value: Float, _ low: UInt16, _ high: UInt16, decode: (UInt16) -> Float) -> UInt16 {
  let distanceLow = abs(Double(value) - Double(decode(low)))
  let distanceHigh = abs(Double(value) - Double(decode(high)))
  if distanceLow != distanceHigh { return distanceLow < distanceHigh ? low : high }
  return low & 1 == 0 ? low : high
}

@Suite("Half-precision conversions")
struct HalfPrecisionTests {
  @Test("every float16 pattern widens exactly and narrows back to itself")
  func float16Exhaustive() {
    for bits in 0...UInt16.max {
      let reference = Float(Float16(bitPattern: bits))
      let widened = HalfPrecision.float(float16Bits: bits)
      if reference.isNaN {
        #expect(widened.isNaN)
        #expect(HalfPrecision.float16Bits(widened) & 0x7E00 == 0x7E00)
      } else {
        #expect(widened.bitPattern == reference.bitPattern, "f16 \(String(bits, radix: 16))")
        #expect(HalfPrecision.float16Bits(widened) == bits)
      }
    }
  }

  @Test("float16 narrowing matches the platform conversion at every midpoint and its neighbours")
  func float16Rounding() {
    for bits in UInt16(0)..<0x7C00 {
      let low = HalfPrecision.float(float16Bits: bits)
      let high = HalfPrecision.float(float16Bits: bits + 1)
      let midpoint = Float((Double(low) + Double(high)) / 2)
      for value in [midpoint.nextDown, midpoint, midpoint.nextUp] {
        for signed in [value, -value] {
          #expect(HalfPrecision.float16Bits(signed) == Float16(signed).bitPattern, "value \(signed)")
        }
      }
    }
    #expect(HalfPrecision.float16Bits(65520) == 0x7C00)
    #expect(HalfPrecision.float16Bits(65519.996) == 0x7BFF)
    #expect(HalfPrecision.float16Bits(-.infinity) == 0xFC00)
    #expect(HalfPrecision.float16Bits(-0.0) == 0x8000)
  }

  @Test("bfloat16 narrowing is round-to-nearest-even at every midpoint of a sweep of binades")
  func bfloat16Rounding() {
    let decode = { (bits: UInt16) in HalfPrecision.float(bfloat16Bits: bits) }
    var bits: UInt16 = 0
    while bits < 0x7F7F {
      let low = decode(bits)
      let high = decode(bits + 1)
      let midpoint = Float((Double(low) + Double(high)) / 2)
      for value in [low, midpoint.nextDown, midpoint, midpoint.nextUp] {
        #expect(HalfPrecision.bfloat16Bits(value) == nearest(value, bits, bits + 1, decode: decode), "value \(value)")
        #expect(HalfPrecision.bfloat16Bits(-value) == nearest(value, bits, bits + 1, decode: decode) | 0x8000)
      }
      bits &+= 7
    }
    #expect(HalfPrecision.bfloat16Bits(.infinity) == 0x7F80)
    #expect(HalfPrecision.bfloat16Bits(Float.greatestFiniteMagnitude) == 0x7F80)
    #expect(HalfPrecision.bfloat16Bits(-0.0) == 0x8000)
    let nan = HalfPrecision.bfloat16Bits(Float(bitPattern: 0xFF80_0001))
    #expect(decode(nan).isNaN && nan & 0x8000 != 0)
  }

  @Test("tensor conversion rounds once from float32", arguments: [DType.float16, .bfloat16, .float32])
  func tensorConversion(dtype: DType) throws {
    let values: [Float] = [1, -2.5, 1e-3, 65504, 3.14159265, 0, -0.0, 1e-8]
    let tensor = try Tensor(converting: values, to: dtype, shape: [2, 4])
    #expect(tensor.shape == [2, 4])
    #expect(tensor.byteCount == 8 * dtype.byteSize)
    let back = try tensor.floats()
    for (original, converted) in zip(values, back) {
      let expected: Float =
        switch dtype {
        case .float16: HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(original))
        case .bfloat16: HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(original))
        default: original
        }
      #expect(converted.bitPattern == expected.bitPattern)
    }
  }
}
