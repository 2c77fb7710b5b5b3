public import QuantCore

/// MLX's affine storage: `bits`-bit codes packed into `UInt32` words, low bits first, with one
/// scale and one bias per group of `groupSize` consecutive values of a row.
///
/// A value decodes as `scale · q + bias`, each operation rounded to the dtype of the scales
/// (float32, float16 or bfloat16), exactly as `mlx.core.dequantize` computes it.
///
/// Rows quantize independently (groups never cross a row), so the layout adopts `RowChunkedStorageLayout`:
/// `bnb-patch` quantizes a large tensor a chunk of rows at a time and joins the chunks here.
public struct AffineWeights: RowChunkedStorageLayout {
  /// The packed codes, `[rows, columns · bits / 32]`, dtype `uint32`.
  public var words: Tensor
  /// One scale per group, `[rows, columns / groupSize]`, in the original dtype.
  public var scales: Tensor
  /// One bias per group, same shape and dtype as `scales`.
  public var biases: Tensor
  /// Bits per code: 4 or 8.
  public var bits: Int
  /// Values per group: 32, 64 or 128.
  public var groupSize: Int
  /// Rows of the logical weight.
  public var rows: Int
  /// Columns of the logical weight.
  public var columns: Int

  /// Creates affine weights after checking that the parts fit together.
  ///
  /// - Parameters:
  ///   - words: Packed codes, `[rows, columns · bits / 32]` `uint32`.
  ///   - scales: Scales, `[rows, columns / groupSize]`.
  ///   - biases: Biases, like `scales`.
  ///   - bits: 4 or 8.
  ///   - groupSize: 32, 64 or 128.
  /// - Throws: `QuantError.invalidState` when shapes or dtypes disagree.
  public init(words: Tensor, scales: Tensor, biases: Tensor, bits: Int, groupSize: Int) throws(QuantError) {
    guard bits == 4 || bits == 8 else { throw .invalidState("affine bits must be 4 or 8, found \(bits)") }
    guard words.dtype == .uint32, words.shape.count == 2 else {
      throw .invalidState("affine codes must be a 2-D uint32 tensor, found \(words.dtype) \(words.shape)")
    }
    let rows = words.shape[0]
    let columns = words.shape[1] * 32 / bits
    guard [32, 64, 128].contains(groupSize), columns % groupSize == 0 else {
      throw .invalidState("affine group size \(groupSize) does not divide \(columns) columns")
    }
    let expected = [rows, columns / groupSize]
    guard scales.shape == expected, biases.shape == expected else {
      throw .shapeMismatch(
        context: "affine scales/biases", expected: expected, found: scales.shape == expected ? biases.shape : scales.shape)
    }
    guard [.float32, .float16, .bfloat16].contains(scales.dtype), biases.dtype == scales.dtype else {
      throw .unsupportedDType(scales.dtype, operation: "affine scales and biases", supported: [.float32, .float16, .bfloat16])
    }
    self.words = words
    self.scales = scales
    self.biases = biases
    self.bits = bits
    self.groupSize = groupSize
    self.rows = rows
    self.columns = columns
  }

  /// `"affine4"` or `"affine8"`.
  public var kind: String { "affine\(bits)" }

  /// Bytes of codes, scales and biases.
  public var storageByteCount: Int { words.byteCount + scales.byteCount + biases.byteCount }

  /// Decodes `rows` into `destination` with MLX's per-operation rounding.
  public func dequantizeRows(_ rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws(QuantError) {
    guard rows.lowerBound >= 0, rows.upperBound <= self.rows, destination.count == rows.count * columns else {
      throw .invalidArgument("rows \(rows) of \(self.rows), buffer of \(destination.count) values")
    }
    let scaleValues = try scales.floats()
    let biasValues = try biases.floats()
    let dtype = scales.dtype
    let mask = UInt32((1 << bits) - 1)
    let perWord = 32 / bits
    let groups = columns / groupSize
    words.withUnsafeBytes { raw in
      for (outputRow, row) in rows.enumerated() {
        for column in 0..<columns {
          let wordIndex = row * (columns / perWord) + column / perWord
          let word = raw.loadUnaligned(fromByteOffset: wordIndex * 4, as: UInt32.self)
          let q = Float((word >> UInt32((column % perWord) * bits)) & mask)
          let group = row * groups + column / groupSize
          let scaled = AffineWeights.round(scaleValues[group] * q, to: dtype)
          destination[outputRow * columns + column] = AffineWeights.round(scaled + biasValues[group], to: dtype)
        }
      }
    }
  }

  /// 1: every row has its own groups.
  public var rowQuantum: Int { 1 }

  /// These rows followed by the rows of `following` (affine weights of the same bits, group size, columns
  /// and scale dtype): codes, scales and biases concatenated along rows.
  ///
  /// - Parameter following: Later row chunks of the same tensor.
  /// - Returns: The affine weights of all the rows.
  /// - Throws: `QuantError.invalidState` when a part is not compatible.
  public func joined(with following: [any CustomStorageLayout]) throws(QuantError) -> any CustomStorageLayout {
    var parts = [self]
    for part in following {
      guard let part = part as? AffineWeights, part.bits == bits, part.groupSize == groupSize, part.columns == columns,
        part.scales.dtype == scales.dtype
      else { throw .invalidState("a \(part.kind) chunk cannot follow \(kind) [\(rows), \(columns)]") }
      parts.append(part)
    }
    func stacked(_ tensors: [Tensor]) throws(QuantError) -> Tensor {
      let rows = tensors.reduce(0) { $0 + $1.shape[0] }
      return try Tensor(dtype: tensors[0].dtype, shape: [rows, tensors[0].shape[1]], bytes: tensors.flatMap(\.bytes))
    }
    return try AffineWeights(
      words: stacked(parts.map(\.words)), scales: stacked(parts.map(\.scales)), biases: stacked(parts.map(\.biases)),
      bits: bits, groupSize: groupSize)
  }

  /// Rounds a float32 result to `dtype` and widens it back (what one operation in that dtype yields).
  static func round(_ value: Float, to dtype: DType) -> Float {
    switch dtype {
    case .float16: HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(value))
    case .bfloat16: HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(value))
    default: value
    }
  }
}
