import CPUKernels
import FormatFP8
import QuantCore
import TestSupport
import Testing

/// The `cpu` backend's vectorised encoders against the real bitsandbytes / torch outputs.
@Suite("CPU encoders against bitsandbytes fixtures")
struct EncoderFixtureTests {
  static let backends = [
    CPUBackend(threads: 1, instructionSet: .scalar), CPUBackend(threads: 2, instructionSet: .best),
  ]

  /// `F.int8_vectorwise_quant(A, 0)` on rows whose absmax spans five decades (`bnb/int8_extra`).
  @Test("int8 row-wise encoder reproduces int8_vectorwise_quant", arguments: ["f32", "f16", "bf16"])
  func int8Rows(dtype: String) throws {
    let fixture = try FixtureSafeTensors("bnb/int8_extra.safetensors")
    let input = try fixture.require("rows/\(dtype)/input")
    let expectedCB = try fixture.require("rows/\(dtype)/t0/CB").bytes
    let expectedSCB = try fixture.require("rows/\(dtype)/t0/SCB").floats().map(\.bitPattern)
    let values = try input.floats()
    for backend in EncoderFixtureTests.backends {
      let (q, stats) = try values.withUnsafeBufferPointer {
        try backend.quantizeInt8Rows($0, rows: input.shape[0], columns: input.shape[1])
      }
      #expect(q.map { UInt8(bitPattern: $0) } == expectedCB, "\(dtype) \(backend.instructionSet)")
      #expect(stats.map(\.bitPattern) == expectedSCB)
    }
  }

  /// fp8 casting agrees with the format module's reference cast on every code's neighbourhood.
  @Test("fp8 encoder agrees with castToFP8", arguments: [Float8Encoding.e4m3, .e5m2])
  func float8(encoding: Float8Encoding) throws {
    var values: [Float] = []
    for code in 0..<256 {
      let value = encoding.decode(UInt8(code))
      guard value.isFinite else { continue }
      values += [value, value.nextUp, value.nextDown, value * 1.0625, value * 0.96875]
    }
    let reference = try castToFP8(Tensor(values), encoding: encoding).bytes
    for backend in EncoderFixtureTests.backends {
      let found = values.withUnsafeBufferPointer { backend.encodeFloat8($0, multiplier: 1, encoding: encoding) }
      #expect(found == reference, "\(encoding) \(backend.instructionSet)")
    }
  }
}
