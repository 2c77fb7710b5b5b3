import FormatConformance
import FormatFP4
import FormatNF4
import QuantCore
import TestSupport

/// The bitsandbytes codebooks (formats contract §1).
enum Codebooks {
  static let nf4 = NF4.codebook
  static let fp4 = FP4.codebook

  /// A sorted 256-entry map in [-1, 1] standing in for the dynamic map (the kernels only index it).
  static func map256(_ generator: inout SeededNormal) -> [Float] {
    var values = (0..<254).map { _ in Float.random(in: -0.99...0.99, using: &generator) } + [0, 1]
    values.sort()
    return values
  }
}

/// One storage-layout variant under test.
enum LayoutVariant: String, CaseIterable, Sendable, CustomStringConvertible {
  case nf4Blocksize64 = "nf4/bs64"
  case nf4NestedBlocksize64 = "nf4/bs64/nested"
  case fp4NestedBlocksize128 = "fp4/bs128/nested"
  case nf4Blocksize32 = "nf4/bs32"
  case nf4NestedBlocksize256 = "nf4/bs256/nested"
  case codebook8Blocksize256 = "8bit/bs256"
  case codebook8NestedBlocksize64 = "8bit/bs64/nested"
  case int8Rowwise = "int8"
  case fp8E4M3Tensor = "e4m3/tensor"
  case fp8E4M3Rows = "e4m3/rows"
  case fp8E5M2Tiles = "e5m2/tiles16x32"
  case fp8E4M3NarrowTiles = "e4m3/tiles8x24"

  var description: String { rawValue }

  /// Random quantized weights `[rows, columns]` of this variant.
  func weights(rows: Int, columns: Int, seed: UInt64) throws -> QuantizedTensor {
    var g = SeededNormal(seed: seed)
    let count = rows * columns
    let shape = [rows, columns]
    func absmax(blocks: Int, nested: Bool) -> BlockScales {
      guard nested else { return .plain((0..<blocks).map { _ in Float.random(in: 0.1...2, using: &g) }) }
      let nestedBlocksize = 256
      return .nested(
        NestedAbsmax(
          codes: (0..<blocks).map { _ in UInt8.random(in: 0...255, using: &g) },
          absmax: (0..<((blocks + nestedBlocksize - 1) / nestedBlocksize)).map { _ in Float.random(in: 0.2...1, using: &g) },
          code: Codebooks.map256(&g), blocksize: nestedBlocksize, offset: Float.random(in: 0.5...1, using: &g)))
    }
    func codebook4(_ code: [Float], blocksize: Int, nested: Bool, type: String) throws -> QuantizedTensor {
      let packed = (0..<((count + 1) / 2)).map { _ in UInt8.random(in: 0...255, using: &g) }
      let blocks = (count + blocksize - 1) / blocksize
      let state = QuantState(
        absmax: absmax(blocks: blocks, nested: nested), shape: shape, code: code, dtype: .float16, blocksize: blocksize,
        quantType: type)
      return QuantizedTensor(
        format: type, shape: shape, originalDType: .float16,
        layout: .codebook4Bit(packed: try Tensor(packed, shape: [packed.count, 1]), state: state))
    }
    func codebook8(blocksize: Int, nested: Bool) throws -> QuantizedTensor {
      let codes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
      let blocks = (count + blocksize - 1) / blocksize
      let state = QuantState(
        absmax: absmax(blocks: blocks, nested: nested), shape: shape, code: Codebooks.map256(&g), dtype: .float32,
        blocksize: blocksize, quantType: "int8-blockwise")
      return QuantizedTensor(
        format: "int8-blockwise", shape: shape, originalDType: .float32,
        layout: .codebook8Bit(codes: try Tensor(codes, shape: shape), state: state))
    }
    func float8(_ encoding: Float8Encoding, _ scales: (Int, Int) -> Float8Scales) throws -> QuantizedTensor {
      let bytes = (0..<count).map { _ -> UInt8 in
        while true {
          let byte = UInt8.random(in: 0...255, using: &g)
          if encoding.decode(byte).isFinite { return byte }
        }
      }
      let weights = Float8Weights(
        values: try Tensor(dtype: encoding.dtype, shape: shape, bytes: bytes), encoding: encoding,
        scales: scales(rows, columns))
      return QuantizedTensor(format: "fp8", shape: shape, originalDType: .bfloat16, layout: .float8(weights))
    }
    func tiles(_ tileRows: Int, _ tileColumns: Int) -> (Int, Int) -> Float8Scales {
      { rows, columns in
        let grid = ((rows + tileRows - 1) / tileRows) * ((columns + tileColumns - 1) / tileColumns)
        return .tiles(
          tileRows: tileRows, tileColumns: tileColumns, values: (0..<grid).map { _ in Float.random(in: 0.001...0.01, using: &g) })
      }
    }

    switch self {
    case .nf4Blocksize64: return try codebook4(Codebooks.nf4, blocksize: 64, nested: false, type: "nf4")
    case .nf4NestedBlocksize64: return try codebook4(Codebooks.nf4, blocksize: 64, nested: true, type: "nf4")
    case .fp4NestedBlocksize128: return try codebook4(Codebooks.fp4, blocksize: 128, nested: true, type: "fp4")
    case .nf4Blocksize32: return try codebook4(Codebooks.nf4, blocksize: 32, nested: false, type: "nf4")
    case .nf4NestedBlocksize256: return try codebook4(Codebooks.nf4, blocksize: 256, nested: true, type: "nf4")
    case .codebook8Blocksize256: return try codebook8(blocksize: 256, nested: false)
    case .codebook8NestedBlocksize64: return try codebook8(blocksize: 64, nested: true)
    case .int8Rowwise:
      let values = (0..<count).map { _ in Int8.random(in: -127...127, using: &g) }
      let scales = (0..<rows).map { _ in Float.random(in: 0.5...3, using: &g) }
      return QuantizedTensor(
        format: "int8", shape: shape, originalDType: .float16,
        layout: .int8Rowwise(Int8RowwiseWeights(values: try Tensor(values, shape: shape), rowScale: scales)))
    case .fp8E4M3Tensor: return try float8(.e4m3) { _, _ in .tensor(Float.random(in: 0.001...0.01, using: &g)) }
    case .fp8E4M3Rows:
      return try float8(.e4m3) { rows, _ in .rows((0..<rows).map { _ in Float.random(in: 0.001...0.01, using: &g) }) }
    case .fp8E5M2Tiles: return try float8(.e5m2, tiles(16, 32))
    case .fp8E4M3NarrowTiles: return try float8(.e4m3, tiles(8, 24))
    }
  }
}

/// Random activations `[rows, columns]` rounded to `dtype`.
func randomActivations(rows: Int, columns: Int, dtype: DType, seed: UInt64) throws -> Tensor {
  var g = SeededNormal(seed: seed)
  let values = (0..<(rows * columns)).map { _ in Float.random(in: -1...1, using: &g) }
  return try Tensor(converting: values, to: dtype, shape: [rows, columns])
}

/// Decodes output bytes of a float dtype.
func decodeFloats(_ bytes: [UInt8], dtype: DType, count: Int) throws -> [Float] {
  try Tensor(dtype: dtype, shape: [count], bytes: Array(bytes.prefix(count * dtype.byteSize))).floats()
}
