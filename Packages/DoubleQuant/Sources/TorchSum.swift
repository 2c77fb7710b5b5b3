/// torch's CPU summation order for a contiguous float32 tensor (`cascade_sum` in `SumKernel.cpp`),
/// reproduced so that `absmax.mean()` gives the same float32 offset bitsandbytes stores.
///
/// torch sums `lanes`-wide vectors (8 on AVX2 and arm64, 16 on AVX-512) with 4-way instruction-level
/// parallelism and a 4-level cascade of partial sums, adds the scalar tail first and the lanes last,
/// then divides by the count in float32. The result depends on the machine and on the thread count
/// (several threads split the input); this emulates one thread, which is what the fixtures use. A stored
/// offset always wins over a recomputed one.
public enum TorchSum {
  /// The float32 sum of `values` in torch's single-thread order.
  ///
  /// - Parameters:
  ///   - values: The values.
  ///   - lanes: The vector width in float32 lanes (8 for AVX2/NEON builds, 16 for AVX-512).
  /// - Returns: The sum.
  public static func sum(_ values: [Float], lanes: Int = 8) -> Float {
    let count = values.count
    if count < lanes {
      // Scalar inner sum: row_sum over single elements.
      return 0 + rowSum(count: count, width: 1) { index, _ in values[index] }[0]
    }
    let vectors = count / lanes
    let partial = rowSum(count: vectors, width: lanes) { vector, lane in values[vector * lanes + lane] }
    var result: Float = 0
    for index in (vectors * lanes)..<count { result += values[index] }
    for lane in 0..<lanes { result += partial[lane] }
    return 0 + result
  }

  /// `sum(values) / count` in float32, as torch's CPU `mean` computes it.
  ///
  /// - Parameters:
  ///   - values: At least one value.
  ///   - lanes: The vector width (see ``sum(_:lanes:)``).
  /// - Returns: The mean (NaN for an empty array).
  public static func mean(_ values: [Float], lanes: Int = 8) -> Float {
    sum(values, lanes: lanes) / Float(values.count)
  }

  /// torch's `row_sum`: `count` elements of `width` lanes, 4-way ILP, then the partials folded.
  private static func rowSum(count: Int, width: Int, load: (Int, Int) -> Float) -> [Float] {
    let ilp = 4
    let rows = count / ilp
    var partial = multiRowSum(rows: rows, width: width) { row, column, lane in load(row * ilp + column, lane) }
    for index in (rows * ilp)..<count {
      for lane in 0..<width { partial[0][lane] += load(index, lane) }
    }
    for column in 1..<ilp {
      for lane in 0..<width { partial[0][lane] += partial[column][lane] }
    }
    return partial[0]
  }

  /// torch's `multi_row_sum` with 4 columns and 4 cascade levels.
  private static func multiRowSum(rows: Int, width: Int, load: (Int, Int, Int) -> Float) -> [[Float]] {
    let columns = 4
    let levels = 4
    let levelPower = max(4, ceilLog2(rows) / levels)
    let levelStep = 1 << levelPower
    let levelMask = levelStep - 1
    var accumulators = [[[Float]]](
      repeating: [[Float]](repeating: [Float](repeating: 0, count: width), count: columns), count: levels)
    var row = 0
    while row + levelStep <= rows {
      for _ in 0..<levelStep {
        for column in 0..<columns {
          for lane in 0..<width { accumulators[0][column][lane] += load(row, column, lane) }
        }
        row += 1
      }
      for level in 1..<levels {
        for column in 0..<columns {
          for lane in 0..<width {
            accumulators[level][column][lane] += accumulators[level - 1][column][lane]
            accumulators[level - 1][column][lane] = 0
          }
        }
        if row & (levelMask << (level * levelPower)) != 0 { break }
      }
    }
    while row < rows {
      for column in 0..<columns {
        for lane in 0..<width { accumulators[0][column][lane] += load(row, column, lane) }
      }
      row += 1
    }
    for level in 1..<levels {
      for column in 0..<columns {
        for lane in 0..<width { accumulators[0][column][lane] += accumulators[level][column][lane] }
      }
    }
    return accumulators[0]
  }

  /// c10's `CeilLog2`: 1 for x ≤ 2, else ⌈log2 x⌉.
  private static func ceilLog2(_ x: Int) -> Int {
    if x <= 2 { return 1 }
    return Int.bitWidth - (x - 1).leadingZeroBitCount
  }
}
