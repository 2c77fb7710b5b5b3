import CPUKernels
import QuantCore
import Testing

@Suite("bfloat16 buffer conversions")
struct BFloat16ConversionTests {
  /// Ties (both parities), values that round up into the next binade and to infinity, NaNs with payloads,
  /// infinities, signed zeros, subnormals, and ordinary values; 1 003 of them, so the SIMD tail runs too.
  static let values: [Float] = {
    var bits: [UInt32] = [
      0x3F80_8000, 0x3F81_8000, 0x3F80_7FFF, 0x3F80_8001, 0x7F7F_FFFF, 0x7F7F_8000, 0x3FFF_FFFF,
      0x7FC0_0001, 0xFFA0_0000, 0x7F80_0001, 0x7F80_0000, 0xFF80_0000, 0x0000_0000, 0x8000_0000,
      0x0000_0001, 0x8000_8000, 0x0040_0000,
    ]
    var state: UInt32 = 12345
    while bits.count < 1003 {
      state = state &* 1_664_525 &+ 1_013_904_223
      bits.append(state)
    }
    return bits.map { Float(bitPattern: $0) }
  }()

  @Test func narrowingMatchesTheReferenceConversion() {
    let values = Self.values
    var bits = [UInt16](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { source in
      bits.withUnsafeMutableBufferPointer { target in
        BFloat16Conversion.narrow(source.baseAddress!, into: target.baseAddress!, count: source.count)
      }
    }
    #expect(bits == values.map(HalfPrecision.bfloat16Bits))
  }

  @Test func wideningIsExact() {
    let bits = Self.values.map(HalfPrecision.bfloat16Bits)
    var values = [Float](repeating: 0, count: bits.count)
    bits.withUnsafeBufferPointer { source in
      values.withUnsafeMutableBufferPointer { target in
        BFloat16Conversion.widen(source.baseAddress!, into: target.baseAddress!, count: source.count)
      }
    }
    #expect(values.map(\.bitPattern) == bits.map { HalfPrecision.float(bfloat16Bits: $0).bitPattern })
  }
}
