/// The state bitsandbytes keeps beside blockwise-quantized data (its `QuantState`).
///
/// For 4-bit formats `code` holds the 16-entry codebook and `absmax` one scale per block; for 8-bit
/// blockwise data `code` holds the 256-entry map. Scales are float32, or themselves quantized
/// (double quantization, ``BlockScales/nested(_:)``).
public struct QuantState: Sendable, Equatable {
  /// One scale per block, plain or double-quantized.
  public var absmax: BlockScales
  /// The original tensor shape (`[out, in]` for a Linear weight).
  public var shape: [Int]
  /// The codebook: index → normalized value.
  public var code: [Float]
  /// The original tensor dtype (the default dequantization dtype).
  public var dtype: DType
  /// Elements per block.
  public var blocksize: Int
  /// The format name bitsandbytes records (`"nf4"`, `"fp4"`), or the registry name for other formats.
  public var quantType: String

  /// Creates a state.
  ///
  /// - Parameters:
  ///   - absmax: The per-block scales.
  ///   - shape: The original shape.
  ///   - code: The codebook.
  ///   - dtype: The original dtype.
  ///   - blocksize: Elements per block.
  ///   - quantType: The format name.
  public init(absmax: BlockScales, shape: [Int], code: [Float], dtype: DType, blocksize: Int, quantType: String) {
    self.absmax = absmax
    self.shape = shape
    self.code = code
    self.dtype = dtype
    self.blocksize = blocksize
    self.quantType = quantType
  }

  /// The number of quantized elements (product of `shape`).
  public var elementCount: Int { shape.reduce(1, *) }
  /// The number of blocks, `ceil(elementCount / blocksize)`.
  public var blockCount: Int { elementCount.dividedRoundingUp(by: blocksize) }
  /// Whether the absmax is double-quantized (bitsandbytes' `nested`).
  public var isNested: Bool { if case .nested = absmax { true } else { false } }
  /// The double-quantization offset (the mean subtracted before nesting), if nested.
  public var offset: Float? { if case .nested(let nested) = absmax { nested.offset } else { nil } }

  /// Checks that the scales match the element count, blocksize and codebook size.
  ///
  /// - Parameter codebookSize: 16 for 4-bit data, 256 for 8-bit data.
  /// - Throws: `QuantError.invalidState` describing the first inconsistency.
  public func validate(codebookSize: Int) throws(QuantError) {
    guard blocksize > 0 else { throw .invalidState("blocksize \(blocksize) must be positive") }
    guard code.count == codebookSize else {
      throw .invalidState("codebook has \(code.count) entries, expected \(codebookSize)")
    }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw .invalidState("negative dimension in shape \(shape)") }
    guard absmax.count == blockCount else {
      throw .invalidState(
        "absmax has \(absmax.count) entries, expected \(blockCount) for \(elementCount) elements in blocks of \(blocksize)")
    }
    if case .nested(let nested) = absmax { try nested.validate() }
  }
}

/// Per-block scales: float32 values, or double-quantized 8-bit codes.
public enum BlockScales: Sendable, Equatable {
  /// One float32 absmax per block.
  case plain([Float])
  /// Absmax quantized with a nested 8-bit blockwise state (bitsandbytes' `compress_statistics`).
  case nested(NestedAbsmax)

  /// The number of blocks the scales cover.
  public var count: Int {
    switch self {
    case .plain(let values): values.count
    case .nested(let nested): nested.codes.count
    }
  }

  /// The float32 scale of every block (decoding nested scales exactly as bitsandbytes does).
  public func decoded() -> [Float] {
    switch self {
    case .plain(let values): values
    case .nested(let nested): nested.decoded()
    }
  }
}

/// Double-quantized absmax: 8-bit codes into a 256-entry map, scaled per nested block, plus an offset.
///
/// Decoding is `code[q] * absmax[i / blocksize]` in float32, then `+ offset` as a separate float32
/// add (never fused), exactly as bitsandbytes' `dequantize_4bit` recovers its absmax.
public struct NestedAbsmax: Sendable, Equatable {
  /// One 8-bit code per outer block.
  public var codes: [UInt8]
  /// One float32 scale per nested block (bitsandbytes' `state2.absmax`).
  public var absmax: [Float]
  /// The 256-entry map (bitsandbytes' `state2.code`, the signed dynamic map by default).
  public var code: [Float]
  /// Outer blocks per nested block (256 in bitsandbytes).
  public var blocksize: Int
  /// The mean subtracted before nesting, added back after decoding.
  public var offset: Float

  /// Creates nested scales.
  ///
  /// - Parameters:
  ///   - codes: 8-bit codes, one per outer block.
  ///   - absmax: Nested scales, one per `blocksize` codes.
  ///   - code: The 256-entry map.
  ///   - blocksize: Codes per nested block.
  ///   - offset: The mean to add back.
  public init(codes: [UInt8], absmax: [Float], code: [Float], blocksize: Int, offset: Float) {
    self.codes = codes
    self.absmax = absmax
    self.code = code
    self.blocksize = blocksize
    self.offset = offset
  }

  /// Checks the map size and the number of nested scales.
  ///
  /// - Throws: `QuantError.invalidState` on an inconsistency.
  public func validate() throws(QuantError) {
    guard code.count == 256 else { throw .invalidState("nested map has \(code.count) entries, expected 256") }
    guard blocksize > 0 else { throw .invalidState("nested blocksize \(blocksize) must be positive") }
    let expected = codes.count.dividedRoundingUp(by: blocksize)
    guard absmax.count == expected else {
      throw .invalidState("nested absmax has \(absmax.count) entries, expected \(expected)")
    }
  }

  /// The float32 scales: `code[q] * absmax[i / blocksize]`, then `+ offset`.
  public func decoded() -> [Float] {
    var result = [Float](repeating: 0, count: codes.count)
    for i in codes.indices {
      let scaled = code[Int(codes[i])] * absmax[i / blocksize]
      result[i] = scaled + offset
    }
    return result
  }
}
