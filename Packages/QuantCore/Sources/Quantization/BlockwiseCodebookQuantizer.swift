/// Blockwise absmax quantization onto a codebook, exactly as bitsandbytes' default (pure torch) backend
/// does it for `quantize_4bit` and `quantize_blockwise`.
///
/// For each block of `blocksize` consecutive elements (row-major, the last block may be partial):
/// 1. `absmax = max |x|` in float32 (NaN propagates, as torch's `max` does).
/// 2. Full blocks are normalised by multiplying with the float32 reciprocal
///    `fl32(1 / max(absmax, 1e-38))`; the trailing partial block by a true division
///    `x / max(absmax, 1e-38)`. The two can differ by one ulp, which matters on thresholds.
/// 3. The index is the sorted position `#{t : !(t >= v)}` over the float32 midpoints `t` between
///    neighbouring sorted codebook values (torch's `bucketize(right=False)`: ties go to the lower
///    index, NaN to the last position), mapped back to the codebook index.
///
/// Normalised values are clamped to [-1, 1] (NaN stays NaN) as bitsandbytes does; it only matters for codebooks
/// with values outside [-1, 1]. Stored absmax is the unclamped maximum for
/// full blocks (0 for an all-zero block) and the clamped one (`1e-38`) for an all-zero partial block.
/// A NaN absmax keeps the input's NaN for full blocks and is the all-ones NaN for the partial block, as
/// torch's two different max reductions give on x86.
///
/// Performance: one pass over the input, an unrolled branch-free binary search per element (4 comparisons
/// for a 16-entry codebook, 8 for 256 entries; conditional moves, since random data would mispredict
/// branches), no allocation per element. Release build, one x86-64 core: about 0.25 s for a 4096×4096
/// float32 NF4 quantization.
public struct BlockwiseCodebookQuantizer: Sendable, Equatable {
  /// The codebook, index → normalised value (16 or 256 entries, any order).
  public let code: [Float]
  /// The float32 midpoints between neighbouring values of the sorted codebook (`code.count - 1`).
  public let thresholds: [Float]
  /// The codebook index of each sorted position (a stable argsort of `code`).
  public let indexOfSortedPosition: [UInt8]

  /// The smallest divisor bitsandbytes uses (`clamp(min=1e-38)`, a float32 subnormal).
  public static let minimumScale: Float = 1e-38
  /// The blocksizes bitsandbytes accepts for 4-bit quantization, which every 4-bit encoder (reference,
  /// backend hooks) and format accepts: the one place they are written.
  public static let supportedBlocksizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]

  /// The NaN torch's whole-tensor `max` returns on x86 (all bits set).
  public static let reductionNaN = Float(bitPattern: 0xFFFF_FFFF)

  /// Prepares a quantizer for a codebook.
  ///
  /// - Parameter code: 2, 4, 16 or 256 (any power of two up to 256) float32 values, no NaN.
  /// - Throws: `QuantError.invalidArgument` for another size or a NaN entry.
  public init(code: [Float]) throws(QuantError) {
    guard code.count >= 2, code.count <= 256, code.count & (code.count - 1) == 0 else {
      throw .invalidArgument("a codebook needs a power-of-two size up to 256, found \(code.count) entries")
    }
    guard !code.contains(where: \.isNaN) else { throw .invalidArgument("the codebook contains NaN") }
    // Stable argsort: equal values keep index order (FP4's two zeros sort as 0, then 8, as torch does).
    let order = code.indices.sorted { code[$0] < code[$1] || (code[$0] == code[$1] && $0 < $1) }
    self.code = code
    self.indexOfSortedPosition = order.map { UInt8(truncatingIfNeeded: $0) }
    self.thresholds = (0..<(order.count - 1)).map { (code[order[$0]] + code[order[$0 + 1]]) / 2 }
  }

  /// The codebook index for a normalised value.
  ///
  /// - Parameter value: A value normalised by its block's absmax.
  /// - Returns: The index of the nearest codebook value (ties to the lower sorted position, NaN to the last).
  @inlinable
  public func index(of value: Float) -> UInt8 {
    thresholds.withUnsafeBufferPointer { t in
      indexOfSortedPosition[
        BlockwiseCodebookQuantizer.sortedPosition(of: BlockwiseCodebookQuantizer.clamped(value), thresholds: t)]
    }
  }

  /// `#{t : !(t >= value)}` by branch-free binary search over `2^k - 1` sorted thresholds.
  @inlinable
  static func sortedPosition(of value: Float, thresholds: UnsafeBufferPointer<Float>) -> Int {
    var position = 0
    var step = (thresholds.count &+ 1) >> 1
    while step > 0 {
      // `!(t >= v)` rather than `t < v`: NaN compares false, so it moves right, as torch's lower_bound does.
      // The select compiles to a conditional move: random data would mispredict a branch half the time.
      position &+= thresholds[position &+ step &- 1] >= value ? 0 : step
      step >>= 1
    }
    return position
  }

  /// `clamp(v, -1, 1)` with NaN kept, as torch's `clamp`.
  @inlinable
  static func clamped(_ value: Float) -> Float {
    value > 1 ? 1 : (value < -1 ? -1 : value)
  }

  /// ``sortedPosition(of:thresholds:)`` unrolled for the 15 thresholds of a 16-entry codebook.
  @inline(__always)
  static func sortedPosition15(of value: Float, thresholds t: UnsafeBufferPointer<Float>) -> Int {
    var position = t[7] >= value ? 0 : 8
    position &+= t[position &+ 3] >= value ? 0 : 4
    position &+= t[position &+ 1] >= value ? 0 : 2
    position &+= t[position] >= value ? 0 : 1
    return position
  }

  /// ``sortedPosition(of:thresholds:)`` unrolled for the 255 thresholds of a 256-entry codebook.
  @inline(__always)
  static func sortedPosition255(of value: Float, thresholds t: UnsafeBufferPointer<Float>) -> Int {
    var position = t[127] >= value ? 0 : 128
    position &+= t[position &+ 63] >= value ? 0 : 64
    position &+= t[position &+ 31] >= value ? 0 : 32
    position &+= t[position &+ 15] >= value ? 0 : 16
    position &+= t[position &+ 7] >= value ? 0 : 8
    position &+= t[position &+ 3] >= value ? 0 : 4
    position &+= t[position &+ 1] >= value ? 0 : 2
    position &+= t[position] >= value ? 0 : 1
    return position
  }

  /// The sorted position of a normalised value after clamping, with the unrolled search where one exists.
  @inline(__always)
  static func position(of value: Float, in thresholds: UnsafeBufferPointer<Float>) -> Int {
    let clampedValue = clamped(value)
    switch thresholds.count {
    case 15: return sortedPosition15(of: clampedValue, thresholds: thresholds)
    case 255: return sortedPosition255(of: clampedValue, thresholds: thresholds)
    default: return sortedPosition(of: clampedValue, thresholds: thresholds)
    }
  }

  /// The number of blocks for `count` elements.
  ///
  /// - Parameters:
  ///   - count: Elements.
  ///   - blocksize: Elements per block (positive).
  /// - Returns: `ceil(count / blocksize)`.
  public static func blockCount(_ count: Int, blocksize: Int) -> Int {
    count.dividedRoundingUp(by: blocksize)
  }

  /// Quantizes values block by block, writing one codebook index per element.
  ///
  /// - Parameters:
  ///   - values: The input in row-major order.
  ///   - blocksize: Elements per block (positive).
  ///   - indices: Room for `values.count` indices.
  ///   - absmax: Room for `blockCount(values.count, blocksize)` scales.
  public func quantize(
    _ values: UnsafeBufferPointer<Float>, blocksize: Int, indices: UnsafeMutableBufferPointer<UInt8>,
    absmax: UnsafeMutableBufferPointer<Float>
  ) {
    forEachIndex(values, blocksize: blocksize, absmax: absmax) { j, index in indices[j] = index }
  }

  /// Quantizes values block by block and packs two 4-bit indices per byte, element `2i` in the high
  /// nibble. An odd count is padded with the index of a normalised 0.0 (bitsandbytes pads the
  /// normalised values with zero).
  ///
  /// - Parameters:
  ///   - values: The input in row-major order.
  ///   - blocksize: Elements per block (positive).
  ///   - packed: Room for `(values.count + 1) / 2` bytes.
  ///   - absmax: Room for `blockCount(values.count, blocksize)` scales.
  /// - Precondition: The codebook has at most 16 entries.
  public func quantizePacked4Bit(
    _ values: UnsafeBufferPointer<Float>, blocksize: Int, packed: UnsafeMutableRawBufferPointer,
    absmax: UnsafeMutableBufferPointer<Float>
  ) {
    precondition(code.count <= 16, "4-bit packing needs a codebook of at most 16 entries")
    forEachIndex(values, blocksize: blocksize, absmax: absmax) { j, index in
      if j & 1 == 0 {
        packed[j >> 1] = index << 4
      } else {
        packed[j >> 1] |= index
      }
    }
    if values.count & 1 == 1 { packed[values.count >> 1] |= self.index(of: 0) }
  }

  /// The shared loop: computes absmax per block and hands each element's index to `emit`.
  @inline(__always)
  private func forEachIndex(
    _ values: UnsafeBufferPointer<Float>, blocksize: Int, absmax: UnsafeMutableBufferPointer<Float>,
    _ emit: (Int, UInt8) -> Void
  ) {
    precondition(blocksize > 0, "blocksize must be positive")
    let count = values.count
    let fullBlocks = count / blocksize
    thresholds.withUnsafeBufferPointer { t in
      indexOfSortedPosition.withUnsafeBufferPointer { lookup in
        var start = 0
        var block = 0
        while start < count {
          let end = min(start &+ blocksize, count)
          var maximum: Float = 0
          for j in start..<end {
            let magnitude = values[j].magnitude
            // NaN propagates and then stays (`NaN > x` is false, so only another NaN replaces it).
            if magnitude > maximum || magnitude.isNaN { maximum = magnitude }
          }
          let divisor = maximum < Self.minimumScale ? Self.minimumScale : maximum
          if block < fullBlocks {
            absmax[block] = maximum
            let reciprocal = 1 / divisor
            for j in start..<end { emit(j, lookup[Self.position(of: values[j] * reciprocal, in: t)]) }
          } else {
            // torch reduces the tail with its whole-tensor `max`, whose vector NaN handling yields the
            // all-ones NaN (0xFFFFFFFF) on x86; the per-row `max(dim=-1)` above keeps the input's NaN.
            absmax[block] = divisor.isNaN ? Self.reductionNaN : divisor
            for j in start..<end { emit(j, lookup[Self.position(of: values[j] / divisor, in: t)]) }
          }
          start = end
          block &+= 1
        }
      }
    }
  }
}
