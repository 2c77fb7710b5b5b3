import QuantCore
import Testing

@Suite("Reference decoding of storage layouts")
struct StorageLayoutTests {
  @Test("4-bit data: element 2i is the high nibble; blocks run over the flat index")
  func nibbleOrderAndBlocks() throws {
    let code = (0..<16).map { Float($0) }
    let state = QuantState(
      absmax: .plain([1, 10]), shape: [1, 5], code: code, dtype: .float32, blocksize: 4, quantType: "test")
    let packed = try Tensor([0x12, 0x34, 0x50] as [UInt8], shape: [3, 1])
    let values = try StorageLayout.codebook4Bit(packed: packed, state: state).dequantizedFloats()
    #expect(values == [1, 2, 3, 4, 50])
  }

  @Test("nested absmax: code[q] * absmax2 rounds before the offset is added")
  func nestedAbsmaxIsNotFused() {
    var code = [Float](repeating: 0, count: 256)
    code[1] = 1 + 0x1p-23  // 1 + ulp
    let nested = NestedAbsmax(codes: [1], absmax: [1 + 0x1p-23], code: code, blocksize: 256, offset: -1)
    // Exact product 1 + 2^-22 + 2^-46 rounds to 1 + 2^-22; minus 1 gives 2^-22 (an FMA would keep 2^-46 too).
    #expect(nested.decoded() == [0x1p-22])
  }

  @Test("int8 row-wise decodes as q * SCB * fl32(1/127), evaluated left to right")
  func int8Rowwise() throws {
    let values = try Tensor([127, -64, 1, 0] as [Int8], shape: [2, 2])
    let layout = StorageLayout.int8Rowwise(Int8RowwiseWeights(values: values, rowScale: [2, 0.5]))
    let decoded = try layout.dequantizedFloats()
    let c = Int8Constants.inverse127
    #expect(decoded == [127 * 2 * c, -64 * 2 * c, 1 * 0.5 * c, 0])
  }

  @Test("fp8 tile scales cover a partial last tile")
  func fp8Tiles() throws {
    let ones = [UInt8](repeating: Float8Encoding.e4m3.encode(1), count: 3 * 5)
    let values = try Tensor(dtype: .float8E4M3, shape: [3, 5], bytes: ones)
    let scales = Float8Scales.tiles(tileRows: 2, tileColumns: 4, values: [1, 2, 3, 4])
    let decoded = try StorageLayout.float8(Float8Weights(values: values, encoding: .e4m3, scales: scales)).dequantizedFloats()
    #expect(decoded == [1, 1, 1, 1, 2, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4])
    let wrong = Float8Scales.tiles(tileRows: 2, tileColumns: 4, values: [1, 2, 3])
    #expect(throws: QuantError.self) {
      try StorageLayout.float8(Float8Weights(values: values, encoding: .e4m3, scales: wrong)).dequantizedFloats()
    }
  }

  @Test("inconsistent state is a typed error")
  func inconsistentState() throws {
    let state = QuantState(
      absmax: .plain([1]), shape: [4, 64], code: Array(repeating: 0, count: 16), dtype: .float16, blocksize: 64,
      quantType: "nf4")
    let packed = try Tensor(dtype: .uint8, shape: [128, 1], bytes: Array(repeating: 0, count: 128))
    #expect(throws: QuantError.self) { try StorageLayout.codebook4Bit(packed: packed, state: state).dequantizedFloats() }
  }

  @Test("the reference backend multiplies like F.linear with a bias")
  func referenceLinear() throws {
    let weights = try Tensor([2, 0, -1, 3, 1, 1] as [Int8], shape: [3, 2])
    let quantized = QuantizedTensor(
      format: "int8", shape: [3, 2], originalDType: .float32,
      layout: .int8Rowwise(Int8RowwiseWeights(values: weights, rowScale: [127, 127, 127])))
    let input = try Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
    let bias = try Tensor([0.5, 0, -1] as [Float])
    let output = try ReferenceBackend().linear(input, weight: quantized, bias: bias)
    let w = try quantized.layout.dequantizedFloats()
    #expect(output.shape == [2, 3])
    let y = try output.floats()
    #expect(y[0] == 1 * w[0] + 2 * w[1] + 0.5)
    #expect(y[5] == 3 * w[4] + 4 * w[5] - 1)
    #expect(throws: QuantError.self) {
      try ReferenceBackend().linear(try Tensor([1, 2, 3] as [Float], shape: [1, 3]), weight: quantized, bias: nil)
    }
  }
}
