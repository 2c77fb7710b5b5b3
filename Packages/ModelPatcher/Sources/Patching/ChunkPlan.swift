import DoubleQuant
import QuantCore

/// How a tensor is cut into chunks for its format, and how the chunks' storage is put back together.
///
/// The plan is learnt from the format itself: its first row is quantized (a probe), and the storage
/// layout of the result says which cuts keep the bytes identical to quantizing the whole tensor:
/// - blockwise codebooks (4-bit, 8-bit): blocks run over the flattened tensor, so any cut at a multiple of
///   the blocksize (and of the packed storage's element) works; double-quantized absmax is nested once,
///   after every block's absmax is known, exactly as the format does (checked on the probe);
/// - LLM.int8 row-wise, fp8 with per-row scales: any cut between rows;
/// - fp8 with tile scales: cuts at multiples of the tile's rows;
/// - fp8 with one scale for the tensor, and LLM.int8 with outlier columns (a weight threshold): any cut
///   between rows, each chunk quantized with one more row appended, the tensor's column extremes (for every
///   column the value of largest magnitude), so that its absmax and outlier columns are the whole tensor's;
///   the extra row's codes are dropped, and every chunk must report the same scale or columns;
/// - custom layouts that adopt `RowChunkedStorageLayout`: cuts at multiples of their row quantum, parts
///   joined by the layout.
///
/// Everything else (other custom layouts, tensors with one row) runs on the whole tensor as before.
enum ChunkPlan {
  /// Quantize the whole tensor at once.
  case whole
  /// Blockwise 4-bit codebook: flat chunks.
  case codebook4Bit(Codebook4Bit)
  /// Blockwise 8-bit codebook: flat chunks.
  case codebook8Bit(blocksize: Int, codesDType: DType)
  /// LLM.int8 row-wise codes without outliers: row chunks.
  case int8Rows
  /// fp8 codes with per-row (`tileRows == 1`, `tileColumns == nil`) or tile scales: row chunks.
  case float8(encoding: Float8Encoding, tileRows: Int, tileColumns: Int?)
  /// fp8 codes with one scale for the tensor: row chunks, each with the column extremes appended.
  case float8TensorScale(encoding: Float8Encoding)
  /// A custom layout that joins row chunks (`RowChunkedStorageLayout`).
  case customRows(quantum: Int)

  /// What a 4-bit plan needs besides the chunks.
  struct Codebook4Bit {
    var blocksize: Int
    /// The dtype the packed bytes are viewed as.
    var storage: DType
    /// The nested blocksize and rule when the absmax is double-quantized.
    var nesting: (blocksize: Int, rule: Blockwise8Rule)?
    /// The parameters each chunk is quantized with (double quantization off).
    var chunkParameters: FormatParameters
  }

  /// The unit chunks are cut in: `elements` of the flattened tensor, or whole `rows` (`columns` each).
  enum Unit {
    case elements(Int)
    case rows(Int)
  }

  /// The cut quantum.
  var unit: Unit {
    switch self {
    case .whole: .elements(1)
    case .codebook4Bit(let plan): .elements(lcm(plan.blocksize, 2 * plan.storage.byteSize))
    case .codebook8Bit(let blocksize, _): .elements(blocksize)
    case .int8Rows: .rows(1)
    case .float8(_, let tileRows, _): .rows(tileRows)
    case .float8TensorScale: .rows(1)
    case .customRows(let quantum): .rows(quantum)
    }
  }

  /// Whether each chunk is quantized with the tensor's column extremes appended from the start (LLM.int8
  /// appends them only once a chunk shows outlier columns).
  var needsColumnExtremes: Bool {
    if case .float8TensorScale = self { return true }
    return false
  }

  /// Whether a chunk quantized without the column extremes shows state that depends on the whole tensor
  /// (LLM.int8 outlier columns), so that the chunks must be quantized again with them.
  func needsColumnExtremes(after chunk: QuantizedTensor) -> Bool {
    guard case .int8Rows = self, case .int8Rowwise(let weights) = chunk.layout else { return false }
    return !weights.outlierColumns.isEmpty
  }

  /// The parameters chunks are quantized with.
  func chunkParameters(_ parameters: FormatParameters) -> FormatParameters {
    if case .codebook4Bit(let plan) = self { return plan.chunkParameters }
    return parameters
  }

  /// Learns the plan from `probe`, the format's quantization of the tensor's first row (`[1, columns]`),
  /// and, for double quantization, `quantizeAgain` (the same row with other parameters).
  ///
  /// - Parameters:
  ///   - probe: The first row quantized with the job's parameters.
  ///   - parameters: The job's parameters.
  ///   - format: The format.
  ///   - quantizeAgain: Quantizes the first row with other parameters.
  static func learn(
    from probe: QuantizedTensor, parameters: FormatParameters, format: any QuantizationFormat,
    quantizeAgain: (FormatParameters) throws(QuantError) -> QuantizedTensor
  ) -> ChunkPlan {
    let probeShape = probe.shape
    switch probe.layout {
    case .codebook4Bit(let packed, let state):
      guard packed.shape.count == 2, packed.shape[1] == 1, state.blocksize > 0 else { return .whole }
      guard case .nested(let nested) = state.absmax else {
        return .codebook4Bit(
          Codebook4Bit(blocksize: state.blocksize, storage: packed.dtype, nesting: nil, chunkParameters: parameters))
      }
      return learnNesting(
        nested, blocksize: state.blocksize, storage: packed.dtype, parameters: parameters, format: format,
        quantizeAgain: quantizeAgain)
    case .codebook8Bit(let codes, let state):
      guard case .plain = state.absmax, codes.shape == probeShape, codes.dtype.byteSize == 1, state.blocksize > 0 else {
        return .whole
      }
      return .codebook8Bit(blocksize: state.blocksize, codesDType: codes.dtype)
    case .int8Rowwise(let weights):
      guard weights.values.dtype == .int8, weights.values.shape == probeShape else {
        return .whole
      }
      return .int8Rows
    case .float8(let weights):
      guard weights.values.shape == probeShape, weights.values.dtype.byteSize == 1 else { return .whole }
      switch weights.scales {
      case .tensor: return .float8TensorScale(encoding: weights.encoding)
      case .rows: return .float8(encoding: weights.encoding, tileRows: 1, tileColumns: nil)
      case .tiles(let tileRows, let tileColumns, _):
        guard tileRows > 0, tileColumns > 0 else { return .whole }
        return .float8(encoding: weights.encoding, tileRows: tileRows, tileColumns: tileColumns)
      }
    case .custom(let layout):
      guard let chunked = layout as? any RowChunkedStorageLayout, chunked.rowQuantum > 0, layout.rows == 1 else {
        return .whole
      }
      return .customRows(quantum: chunked.rowQuantum)
    }
  }

  /// Double quantization: chunks are quantized with `double_quant: false` and the absmax nested at the
  /// end with the format's `double_quant_rule`; used only when that reproduces the probe's nesting.
  private static func learnNesting(
    _ nested: NestedAbsmax, blocksize: Int, storage: DType, parameters: FormatParameters, format: any QuantizationFormat,
    quantizeAgain: (FormatParameters) throws(QuantError) -> QuantizedTensor
  ) -> ChunkPlan {
    guard format.parameterSpec(named: "double_quant") != nil else { return .whole }
    var rule = Blockwise8Rule.defaultBackend
    if format.parameterSpec(named: "double_quant_rule") != nil {
      let name = parameters["double_quant_rule"]?.stringValue ?? Blockwise8Rule.defaultBackend.rawValue
      guard let named = Blockwise8Rule(rawValue: name) else { return .whole }
      rule = named
    }
    var plain = parameters
    plain["double_quant"] = .bool(false)
    guard let again = try? quantizeAgain(plain), case .codebook4Bit(_, let state) = again.layout,
      case .plain(let absmax) = state.absmax,
      let renested = try? DoubleQuant.doubleQuant(absmax: absmax, blocksize: nested.blocksize, rule: rule),
      renested == nested
    else { return .whole }
    return .codebook4Bit(
      Codebook4Bit(blocksize: blocksize, storage: storage, nesting: (nested.blocksize, rule), chunkParameters: plain))
  }
}

/// The least common multiple of two positive integers.
func lcm(_ a: Int, _ b: Int) -> Int {
  var (x, y) = (a, b)
  while y != 0 { (x, y) = (y, x % y) }
  return a / x * b
}
