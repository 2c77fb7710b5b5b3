/// How quantized weights are stored, in the terms compute backends understand.
///
/// Backends implement kernels per layout, not per format name: a new format that reuses a layout
/// (a different 16-entry codebook, say) runs on every backend's fast path without changes. A format
/// with a layout of its own uses ``custom(_:)`` and still runs everywhere through its row
/// dequantizer.
public enum StorageLayout: Sendable {
  /// 4-bit codebook indices, two per byte (element `2i` in the high nibble), blockwise absmax.
  case codebook4Bit(packed: Tensor, state: QuantState)
  /// 8-bit codebook indices, one per byte, blockwise absmax (bitsandbytes' `quantize_blockwise`).
  case codebook8Bit(codes: Tensor, state: QuantState)
  /// int8 values with one float32 scale per row (LLM.int8's `CB`/`SCB`).
  case int8Rowwise(Int8RowwiseWeights)
  /// fp8 values (E4M3FN or E5M2) with per-tensor, per-row or per-tile scales.
  case float8(Float8Weights)
  /// A layout only its format understands, decoded row by row.
  case custom(any CustomStorageLayout)

  /// A short name for messages and tables (`"codebook4bit"`, …).
  public var kind: String {
    switch self {
    case .codebook4Bit: "codebook4bit"
    case .codebook8Bit: "codebook8bit"
    case .int8Rowwise: "int8-rowwise"
    case .float8: "fp8"
    case .custom(let layout): layout.kind
    }
  }
}

/// LLM.int8 weights: `weight ≈ values · rowScale / 127`.
public struct Int8RowwiseWeights: Sendable {
  /// int8 values `[rows, columns]` (bitsandbytes' `CB`).
  public var values: Tensor
  /// The absmax of each row in float32 (bitsandbytes' `SCB`), not its reciprocal.
  public var rowScale: [Float]
  /// Columns whose outliers were excluded and zeroed (empty for weights quantized with threshold 0).
  public var outlierColumns: [Int]

  /// Creates int8 row-wise weights.
  ///
  /// - Parameters:
  ///   - values: An `int8` tensor of shape `[rows, columns]`.
  ///   - rowScale: One absmax per row.
  ///   - outlierColumns: Zeroed outlier columns.
  public init(values: Tensor, rowScale: [Float], outlierColumns: [Int] = []) {
    self.values = values
    self.rowScale = rowScale
    self.outlierColumns = outlierColumns
  }
}

/// fp8 weights and their scales: `weight ≈ decode(value) · scale`.
public struct Float8Weights: Sendable {
  /// The fp8 values `[rows, columns]` (dtype `float8E4M3` or `float8E5M2`).
  public var values: Tensor
  /// The encoding of `values`.
  public var encoding: Float8Encoding
  /// The dequantization multipliers.
  public var scales: Float8Scales

  /// Creates fp8 weights.
  ///
  /// - Parameters:
  ///   - values: The fp8 tensor.
  ///   - encoding: E4M3FN or E5M2.
  ///   - scales: How values are scaled back.
  public init(values: Tensor, encoding: Float8Encoding, scales: Float8Scales) {
    self.values = values
    self.encoding = encoding
    self.scales = scales
  }
}

/// Granularity of fp8 dequantization multipliers (transformers calls them `weight_scale_inv`).
public enum Float8Scales: Sendable, Equatable {
  /// One multiplier for the whole tensor.
  case tensor(Float)
  /// One multiplier per row.
  case rows([Float])
  /// One multiplier per `tileRows × tileColumns` tile, row-major over the tile grid.
  case tiles(tileRows: Int, tileColumns: Int, values: [Float])
}

/// A storage layout defined outside the core, decoded to float32 one row range at a time.
///
/// Every backend can run such a layout: it decodes tiles of rows into a buffer and multiplies.
public protocol CustomStorageLayout: Sendable {
  /// A short name for messages (`"lut3bit"`).
  var kind: String { get }
  /// Rows of the logical 2-D weight.
  var rows: Int { get }
  /// Columns of the logical 2-D weight.
  var columns: Int { get }
  /// Bytes the quantized data and its state occupy.
  var storageByteCount: Int { get }
  /// Decodes rows `rows` into `destination` (row-major, `rows.count * columns` values).
  ///
  /// - Parameters:
  ///   - rows: The rows to decode.
  ///   - destination: Room for exactly the decoded rows.
  /// - Throws: `QuantError` when the stored data is inconsistent.
  func dequantizeRows(_ rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws(QuantError)
}

/// A custom layout whose rows quantize independently in groups of ``rowQuantum`` rows (scales per row or
/// per group of a row, as MLX's affine layout), so that a model patcher can quantize a large tensor a chunk
/// of rows at a time, keeping memory bounded by the chunk, and join the chunks' layouts.
///
/// Adopting it is a promise: quantizing consecutive chunks of a multiple of ``rowQuantum`` rows with the
/// same parameters and joining the results gives the bytes that quantizing the whole tensor gives
/// (`bnb-patch` checks the joined shape, not the bytes).
public protocol RowChunkedStorageLayout: CustomStorageLayout {
  /// Rows that quantize together: chunks hold a multiple of them (1 when every row stands alone).
  var rowQuantum: Int { get }
  /// The layout of the whole tensor from this layout (its first rows) and the layouts of the following
  /// row chunks, in order, each made by the same format and parameters.
  ///
  /// - Parameter following: The later chunks' layouts (the same concrete type).
  /// - Returns: The joined layout, `rows` the sum of the parts'.
  /// - Throws: `QuantError` when a part is of another type or its columns or settings differ.
  func joined(with following: [any CustomStorageLayout]) throws(QuantError) -> any CustomStorageLayout
}

/// A quantized tensor: the format that made it, its logical shape and dtype, and its storage.
public struct QuantizedTensor: Sendable {
  /// The registry name of the format (`"nf4"`, `"int8"`, …).
  public var format: String
  /// The logical (original) shape.
  public var shape: [Int]
  /// The dtype of the original weights, the default output of dequantization.
  public var originalDType: DType
  /// The stored data.
  public var layout: StorageLayout

  /// Creates a quantized tensor.
  ///
  /// - Parameters:
  ///   - format: The format's registry name.
  ///   - shape: The logical shape.
  ///   - originalDType: The original dtype.
  ///   - layout: The stored data.
  public init(format: String, shape: [Int], originalDType: DType, layout: StorageLayout) {
    self.format = format
    self.shape = shape
    self.originalDType = originalDType
    self.layout = layout
  }

  /// The number of logical elements.
  public var elementCount: Int { shape.reduce(1, *) }
}
