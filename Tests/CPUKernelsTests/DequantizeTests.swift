import QuantCore
import Testing

@testable import CPUKernels

@Suite("CPU dequantize")
struct DequantizeTests {
  static let shapes: [(n: Int, k: Int)] = [(5, 96), (7, 100), (3, 4129), (1, 33)]

  @Test("matches the reference decode bit for bit", arguments: WeightKind.allCases)
  func matchesReference(kind: WeightKind) throws {
    for shape in DequantizeTests.shapes {
      let weight = try makeWeight(kind, n: shape.n, k: shape.k)
      for dtype in [DType.float32, .float16, .bfloat16] {
        let expected = try ReferenceBackend().dequantize(weight, to: dtype)
        for backend in [scalarBackend, simdBackend, simdBackend2] {
          let found = try backend.dequantize(weight, to: dtype)
          #expect(found.shape == expected.shape)
          #expect(found.bytes == expected.bytes, "\(kind) \(shape) \(dtype) \(backend.instructionSet)")
        }
      }
    }
  }

  @Test("4-bit data viewed as another storage dtype decodes the same", arguments: [DType.float32, .bfloat16, .int8])
  func quantStorageViews(storage: DType) throws {
    let weight = try makeWeight(.nf4Nested, n: 8, k: 64)
    guard case .codebook4Bit(let packed, let state) = weight.layout else { return }
    let viewed = try packed.viewed(as: storage, shape: [packed.byteCount / storage.byteSize, 1])
    let other = QuantizedTensor(
      format: "nf4", shape: weight.shape, originalDType: .float32, layout: .codebook4Bit(packed: viewed, state: state))
    let input = try makeInput(m: 3, k: 64, dtype: .float32)
    #expect(try simdBackend2.dequantize(other, to: .float32).bytes == simdBackend2.dequantize(weight, to: .float32).bytes)
    #expect(
      try simdBackend2.linear(input, weight: other, bias: nil).bytes
        == simdBackend2.linear(input, weight: weight, bias: nil).bytes)
  }

  @Test("rejects integer output dtypes")
  func rejectsIntegerOutput() throws {
    let weight = try makeWeight(.nf4, n: 2, k: 64)
    #expect(throws: QuantError.self) { try simdBackend.dequantize(weight, to: .int8) }
  }

  @Test("rejects truncated packed data")
  func rejectsTruncatedData() throws {
    let weight = try makeWeight(.nf4, n: 4, k: 64)
    guard case .codebook4Bit(_, let state) = weight.layout else { return }
    let short = try Tensor(dtype: .uint8, shape: [10], bytes: [UInt8](repeating: 0, count: 10))
    let broken = QuantizedTensor(
      format: "nf4", shape: [4, 64], originalDType: .float32, layout: .codebook4Bit(packed: short, state: state))
    #expect(throws: QuantError.self) { try simdBackend.dequantize(broken, to: .float32) }
  }
}
