import MetalEmulator
import MetalKernels
import QuantCore
import Testing

@Suite(
  "fp8 decode in the shaders",
  .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
struct Float8DecodeTests {
  @Test(
    "every fp8 code, subnormals, infinities and NaNs included, decodes bit for bit as Float8Encoding.decode",
    arguments: Float8Encoding.allCases)
  func allCodes(encoding: Float8Encoding) throws {
    let kernels = try EmulatedKernels.shared()
    let codes = (0..<256).map { UInt8($0) }
    let weights = Float8Weights(
      values: try Tensor(dtype: encoding.dtype, shape: [2, 128], bytes: codes), encoding: encoding, scales: .tensor(1))
    let tensor = QuantizedTensor(format: "fp8", shape: [2, 128], originalDType: .float32, layout: .float8(weights))
    let prepared = try PreparedWeights(tensor)
    let dispatch = try KernelDispatchPlan.dequantize(prepared, to: .float32)
    let expected = codes.map { encoding.decode($0).bitPattern }
    for order in LaneOrder.allCases {
      let bytes = try kernels.run(dispatch, weights: prepared, outputBytes: 256 * 4, laneOrder: order)
      let result = bytes.withUnsafeBytes { raw in (0..<256).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self) } }
      for code in 0..<256 where result[code] != expected[code] {
        Issue.record(
          Comment(
            rawValue: "\(encoding) code 0x\(String(code, radix: 16)): got 0x\(String(result[code], radix: 16)), "
              + "expected 0x\(String(expected[code], radix: 16)) (\(Float(bitPattern: expected[code])))"))
      }
    }
  }
}
