import MetalEmulator
import QuantCore
import Testing

@Suite("Emulator features")
struct EmulatorFeatureTests {
  @Test("axpy in half precision rounds every operation", arguments: LaneOrder.allCases)
  func axpy(order: LaneOrder) throws {
    let library = try EmulatorTestKernels.library("features.metal")
    let count = 1000
    var generator = SystemRandomNumberGenerator()
    let x = (0..<count).map { _ in Float.random(in: -4...4, using: &generator) }
    let y = (0..<count).map { _ in Float.random(in: -4...4, using: &generator) }
    let xBits = x.map(HalfPrecision.float16Bits)
    let yBits = y.map(HalfPrecision.float16Bits)
    let xBuffer = try EmulatedBuffer(xBits)
    let yBuffer = try EmulatedBuffer(yBits)
    var arguments: [UInt8] = []
    withUnsafeBytes(of: UInt32(count)) { arguments += $0 }
    withUnsafeBytes(of: Float(0.3)) { arguments += $0 }
    try library.dispatchThreads(
      "axpy_f16", threads: EmulatedSize(count), threadsPerThreadgroup: EmulatedSize(64),
      bindings: [.buffer(xBuffer, index: 0), .buffer(yBuffer, index: 1), .bytes(arguments, index: 2)], laneOrder: order)
    let result = yBuffer.read(UInt16.self)
    let scale = HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(0.3))
    for i in 0..<count {
      let xv = HalfPrecision.float(float16Bits: xBits[i])
      let product = HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(scale * xv))
      let expected = HalfPrecision.float16Bits(product + HalfPrecision.float(float16Bits: yBits[i]))
      #expect(result[i] == expected, "element \(i)")
    }
  }
}
