import FormatFP8
import QuantCore
import TestSupport
import Testing

/// fp8 encoding and decoding against torch 2.13 (`Tests/Fixtures/fp8/fp8.safetensors`), exhaustively.
@Suite("fp8 conversions against torch")
struct Float8ConversionTests {
  static let fixture = Result { try FixtureSafeTensors("fp8/fp8.safetensors") }

  static func codes(_ name: String) throws -> [UInt8] { try fixture.get().require(name).scalars(as: UInt8.self) }

  /// Equal bit patterns, or both NaN (torch's NaN payload is not part of the contract).
  static func sameValue(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

  @Test(arguments: Float8Encoding.allCases)
  func everyCodeDecodesAsTorch(encoding: Float8Encoding) throws {
    let expected = try Float8ConversionTests.fixture.get().require("\(encoding)/decode").floats()
    #expect(expected.count == 256)
    let mismatches = (0..<256).filter { !Float8ConversionTests.sameValue(encoding.decode(UInt8($0)), expected[$0]) }
    #expect(mismatches.isEmpty, "codes decoded differently: \(mismatches)")
    // The tensor path (ElementConversion) agrees with the scalar decoder.
    let raw = try Tensor(dtype: encoding.dtype, shape: [256], bytes: (0..<256).map(UInt8.init))
    let viaTensor = try raw.floats()
    #expect(zip(viaTensor, expected).allSatisfy(Float8ConversionTests.sameValue))
  }

  @Test(arguments: [DType.float16, .bfloat16], Float8Encoding.allCases)
  func every16BitPatternEncodesAsTorch(source: DType, encoding: Float8Encoding) throws {
    let expected = try Float8ConversionTests.codes("\(source == .float16 ? "f16" : "bf16")/\(encoding)")
    let patterns = try Tensor((0...UInt16.max).map { $0 }, shape: [65536]).viewed(as: source, shape: [65536])
    let values = try patterns.floats()
    let scalar = values.map { encoding.encode($0) }
    let mismatches = (0..<65536).filter { scalar[$0] != expected[$0] }
    #expect(
      mismatches.isEmpty,
      "\(mismatches.count) of 65536 differ, first: \(mismatches.prefix(8).map { String($0, radix: 16) })")
    // The unscaled cast of a whole tensor is the same conversion.
    #expect(try castToFP8(patterns, encoding: encoding).bytes == expected)
  }

  @Test(arguments: Float8Encoding.allCases)
  func everyFloat32BoundaryEncodesAsTorch(encoding: Float8Encoding) throws {
    let values = try Float8ConversionTests.fixture.get().require("f32/values").floats()
    let expected = try Float8ConversionTests.codes("f32/\(encoding)")
    #expect(values.count == expected.count && values.count > 1000)
    let mismatches = values.indices.filter { encoding.encode(values[$0]) != expected[$0] }
    #expect(mismatches.isEmpty, "differs for \(mismatches.prefix(16).map { values[$0] })")
  }

  /// The three overflow policies on every boundary value. torch 2.13 is the default policy; the others
  /// differ from it exactly where a value lies beyond the range after rounding.
  @Test(arguments: Float8Encoding.allCases, Float8OverflowPolicy.allCases)
  func overflowPolicies(encoding: Float8Encoding, policy: Float8OverflowPolicy) throws {
    let values = try Float8ConversionTests.fixture.get().require("f32/values").floats()
    let torch = try Float8ConversionTests.codes("f32/\(encoding)")
    let maxCode: UInt8 = encoding == .e4m3 ? 0x7E : 0x7B
    // Half a step above the largest finite value: 464 (E4M3) and 61440 (E5M2); ties go to even = max.
    let overflowEdge: Float = encoding == .e4m3 ? 464 : 61440
    var failures: [Float] = []
    for (value, torchCode) in zip(values, torch) {
      let code = encoding.encode(value, overflow: policy)
      let sign: UInt8 = value.sign == .minus ? 0x80 : 0
      let overflows = !value.isNaN && (value.magnitude > overflowEdge || (encoding == .e5m2 && value.magnitude == overflowEdge))
      let expected: UInt8
      switch (overflows, policy, encoding) {
      case (false, _, _): expected = torchCode
      case (true, .saturate, _): expected = sign | maxCode
      case (true, .ieee, .e5m2): expected = sign | 0x7C
      case (true, _, _): expected = sign | 0x7F
      }
      if code != expected { failures.append(value) }
    }
    #expect(failures.isEmpty, "\(encoding) \(policy) differs for \(failures.prefix(12))")
  }

  @Test(arguments: Float8Encoding.allCases)
  func subnormalsAndZerosAreExact(encoding: Float8Encoding) {
    // Every code with a zero exponent field is a subnormal (or zero) and must survive a round trip.
    let exponentMask: UInt8 = encoding == .e4m3 ? 0x78 : 0x7C
    for code in (0...UInt8.max) where code & exponentMask == 0 {
      #expect(encoding.encode(encoding.decode(code)) == code)
    }
    // Every finite code round-trips through its value.
    for code in (0...UInt8.max) where encoding.decode(code).isFinite {
      #expect(encoding.encode(encoding.decode(code)) == code, "code \(code)")
    }
  }
}

/// The `nan` overflow policy against `ml_dtypes` 0.6 (`Tests/Fixtures/fp8/ml_dtypes.safetensors`), which
/// older torch and JAX follow: E4M3FN gives NaN past 464, ±∞ included; E5M2 is IEEE there.
@Suite("fp8 conversions against ml_dtypes")
struct Float8MLDtypesTests {
  static let fixture = Result { try FixtureSafeTensors("fp8/ml_dtypes.safetensors") }

  @Test(arguments: ["f32", "f16", "bf16"], Float8Encoding.allCases)
  func nanPolicyMatchesMLDtypes(source: String, encoding: Float8Encoding) throws {
    let fixture = try Float8MLDtypesTests.fixture.get()
    let expected = try fixture.require("\(source)/\(encoding)").scalars(as: UInt8.self)
    let values: [Float]
    switch source {
    case "f32": values = try fixture.require("f32/values").floats()
    case "f16": values = try Tensor((0...UInt16.max).map { $0 }).viewed(as: .float16, shape: [65536]).floats()
    default: values = try Tensor((0...UInt16.max).map { $0 }).viewed(as: .bfloat16, shape: [65536]).floats()
    }
    #expect(values.count == expected.count)
    // ml_dtypes writes E5M2 NaN as 0x7E/0xFE (torch: 0x7F/0xFF): compare NaN by class.
    let policy: Float8OverflowPolicy = encoding == .e4m3 ? .nan : .ieee
    let mismatches = values.indices.filter { index in
      let code = encoding.encode(values[index], overflow: policy)
      return code != expected[index] && !(encoding.decode(code).isNaN && encoding.decode(expected[index]).isNaN)
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) differ, first for \(mismatches.prefix(8).map { values[$0] })")
  }
}
