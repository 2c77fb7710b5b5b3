import QuantCore
import Testing

/// The fp8 codecs checked against their own definition, exhaustively over all codes and all rounding
/// boundaries. (The comparison with torch, code by code and for every float16/bfloat16 bit pattern,
/// lives in `FormatFP8Tests/Float8ConversionTests.swift`, next to the fixture reader it needs.)
@Suite("Float8Encoding")
struct Float8Tests {
  /// Layout constants from the format definitions (spec §8).
  static func layout(_ encoding: Float8Encoding) -> (mantissaBits: Int, bias: Int, maxCode: UInt8) {
    encoding == .e4m3 ? (3, 7, 0x7E) : (2, 15, 0x7B)
  }

  @Test(arguments: Float8Encoding.allCases)
  func everyCodeDecodesByItsFields(encoding: Float8Encoding) {
    let (mantissaBits, bias, _) = Float8Tests.layout(encoding)
    let exponentMask = (1 << (7 - mantissaBits)) - 1
    for code in 0...255 {
      let negative = code & 0x80 != 0
      let exponent = (code >> mantissaBits) & exponentMask
      let mantissa = code & ((1 << mantissaBits) - 1)
      let value = encoding.decode(UInt8(code))
      let isSpecial =
        encoding == .e4m3 ? (exponent == exponentMask && mantissa == (1 << mantissaBits) - 1) : exponent == exponentMask
      if isSpecial {
        if encoding == .e5m2 && mantissa == 0 {
          #expect(value == (negative ? -Float.infinity : .infinity), "code \(code)")
        } else {
          #expect(value.isNaN, "code \(code)")
        }
        continue
      }
      let fraction = Float(mantissa) / Float(1 << mantissaBits)
      let magnitude =
        exponent == 0
        ? fraction * Float(sign: .plus, exponent: 1 - bias, significand: 1)
        : (1 + fraction) * Float(sign: .plus, exponent: exponent - bias, significand: 1)
      #expect(value.bitPattern == (negative ? -magnitude : magnitude).bitPattern, "code \(code)")
    }
    #expect(encoding.decode(Float8Tests.layout(encoding).maxCode) == encoding.maxFinite)
  }

  /// Every midpoint between neighbouring finite codes goes to the even code; one float32 ulp either
  /// side goes to the nearer code. Together with the exact codes this pins the encoder everywhere.
  @Test(arguments: Float8Encoding.allCases)
  func everyRoundingBoundaryIsNearestEven(encoding: Float8Encoding) {
    let maxCode = Float8Tests.layout(encoding).maxCode
    for sign in [UInt8(0), 0x80] {
      for code in UInt8(0)..<maxCode {
        let low = encoding.decode(sign | code)
        let high = encoding.decode(sign | (code + 1))
        let middle = (low + high) / 2  // exact: both are short binary fractions
        let even = code & 1 == 0 ? code : code + 1
        #expect(encoding.encode(low) == sign | code)
        #expect(encoding.encode(middle) == sign | even, "midpoint \(middle)")
        #expect(encoding.encode(middle.nextDown) == sign | (sign == 0 ? code : code + 1), "below \(middle)")
        #expect(encoding.encode(middle.nextUp) == sign | (sign == 0 ? code + 1 : code), "above \(middle)")
      }
    }
  }

  /// Beyond the largest finite value: half a step above it is the tie, which rounds to the even
  /// neighbour (down to 448 = 0x7E for E4M3FN; up, out of range, from 57344 = 0x7B for E5M2); past the
  /// tie each policy decides.
  @Test(arguments: Float8Encoding.allCases, Float8OverflowPolicy.allCases)
  func overflowFollowsThePolicy(encoding: Float8Encoding, policy: Float8OverflowPolicy) {
    let maxCode = Float8Tests.layout(encoding).maxCode
    let step = encoding.maxFinite - encoding.decode(maxCode - 1)
    let tie = encoding.maxFinite + step / 2
    for sign in [Float(1), -1] {
      let signBit: UInt8 = sign < 0 ? 0x80 : 0
      let expected: UInt8 =
        switch (policy, encoding) {
        case (.saturate, _): signBit | maxCode
        case (.ieee, .e5m2): signBit | 0x7C
        default: signBit | 0x7F
        }
      #expect(encoding.encode(sign * tie.nextDown, overflow: policy) == signBit | maxCode)
      #expect(encoding.encode(sign * tie, overflow: policy) == (maxCode & 1 == 0 ? signBit | maxCode : expected))
      for beyond in [tie.nextUp, encoding.maxFinite * 2, Float.greatestFiniteMagnitude, .infinity] {
        #expect(encoding.encode(sign * beyond, overflow: policy) == expected, "\(sign * beyond)")
      }
    }
  }

  @Test(arguments: Float8Encoding.allCases)
  func defaultsAreTorchs(encoding: Float8Encoding) throws {
    // torch 2.13: E4M3FN saturates (infinity included), E5M2 overflows to infinity; NaN keeps its sign.
    let policy: Float8OverflowPolicy = encoding == .e4m3 ? .saturate : .ieee
    let probes: [Float] = [.infinity, -.infinity, 1e9, -1e9, .nan, -Float.nan, 0, -0.0, 1e-30]
    for value in probes {
      #expect(encoding.encode(value) == encoding.encode(value, overflow: policy))
    }
    #expect(encoding.encode(.nan) == 0x7F && encoding.encode(-Float.nan) == 0xFF)
    #expect(encoding.encode(-0.0) == 0x80 && encoding.encode(1e-30) == 0x00 && encoding.encode(-1e-30) == 0x80)
    // The tensor conversion uses the same default.
    let tensor = try Tensor(converting: probes, to: encoding.dtype)
    #expect(tensor.bytes == probes.map { encoding.encode($0) })
  }
}
