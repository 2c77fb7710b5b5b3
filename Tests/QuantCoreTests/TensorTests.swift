import QuantCore
import Testing

@Suite("Tensor")
struct TensorTests {
  @Test("shape, byte count and typed access agree")
  func typedAccess() throws {
    let tensor = try Tensor([1, 2, 3, 4, 5, 6] as [Int32], shape: [2, 3])
    #expect(tensor.dtype == .int32)
    #expect(tensor.elementCount == 6)
    #expect(tensor.byteCount == 24)
    #expect(try tensor.scalars(as: Int32.self) == [1, 2, 3, 4, 5, 6])
    #expect(try tensor.floats() == [1, 2, 3, 4, 5, 6])
    #expect(throws: QuantError.self) { try tensor.scalars(as: Float.self) }
  }

  @Test("reshape and view share storage and check counts")
  func reshapeAndView() throws {
    let tensor = try Tensor(dtype: .uint8, shape: [8, 1], bytes: Array(0..<8))
    let reshaped = try tensor.reshaped([2, 4])
    #expect(reshaped.storage === tensor.storage)
    let viewed = try tensor.viewed(as: .float16, shape: [4, 1])
    #expect(viewed.byteCount == 8)
    #expect(viewed.bytes == Array(0..<8))
    #expect(throws: QuantError.shapeMismatch(context: "reshape", expected: [8, 1], found: [3, 3])) {
      try tensor.reshaped([3, 3])
    }
    #expect(throws: QuantError.self) { try tensor.viewed(as: .float32, shape: [3]) }
  }

  @Test("bad shapes and byte counts are typed errors, not traps")
  func badInput() {
    #expect(throws: QuantError.self) { try Tensor(dtype: .float32, shape: [-1, 2], bytes: []) }
    #expect(throws: QuantError.self) { try Tensor(dtype: .float32, shape: [2], bytes: [0, 0, 0]) }
    #expect(throws: QuantError.self) { try Tensor(dtype: .float32, shape: [Int.max, 4], bytes: []) }
    #expect(throws: QuantError.self) { try Tensor([1, 2, 3] as [Float], shape: [2, 2]) }
    #expect(throws: QuantError.self) { try Tensor(converting: [1], to: .int8) }
    let storage = TensorStorage(byteCount: 16) { _ in }
    #expect(throws: QuantError.self) { try Tensor(dtype: .float32, shape: [4], storage: storage, byteOffset: 4) }
    #expect(throws: QuantError.self) { try Tensor(dtype: .float32, shape: [1], storage: storage, byteOffset: 17) }
  }

  @Test("a scalar has one element and an empty dimension none")
  func scalarsAndEmpty() throws {
    let scalar = try Tensor([7] as [UInt8], shape: [])
    #expect(scalar.elementCount == 1)
    let empty = try Tensor([] as [Float], shape: [0, 5])
    #expect(empty.elementCount == 0)
    #expect(empty.byteCount == 0)
  }

  @Test("dtype names round-trip through safetensors and torch spellings", arguments: DType.allCases)
  func dtypeNames(dtype: DType) {
    #expect(DType(safetensorsName: dtype.safetensorsName) == dtype)
    #expect(DType(torchName: dtype.rawValue) == dtype)
    #expect(DType(torchName: "torch." + dtype.rawValue) == dtype)
  }
}
