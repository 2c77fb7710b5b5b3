import Dispatch

/// Splits work over threads: `count` items in contiguous chunks whose boundaries are multiples of
/// `alignment` (except the last), one chunk per thread, run with `DispatchQueue.concurrentPerform`.
///
/// Every item is processed by exactly one chunk and kernels compute each output independently of the
/// chunk boundaries, so results do not depend on the thread count.
enum ParallelChunks {
  /// The chunks of `0..<count` for `threads` threads.
  static func ranges(count: Int, threads: Int, alignment: Int = 1) -> [Range<Int>] {
    guard count > 0 else { return [] }
    let alignment = max(alignment, 1)
    let units = (count + alignment - 1) / alignment
    let parts = max(1, min(threads, units))
    var result: [Range<Int>] = []
    result.reserveCapacity(parts)
    for part in 0..<parts {
      let lower = min(count, (units * part / parts) * alignment)
      let upper = min(count, (units * (part + 1) / parts) * alignment)
      if lower < upper { result.append(lower..<upper) }
    }
    return result
  }

  /// Runs `body` once per chunk, in parallel when there is more than one.
  static func run(count: Int, threads: Int, alignment: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
    let chunks = ranges(count: count, threads: threads, alignment: alignment)
    if chunks.count <= 1 {
      for chunk in chunks { body(chunk) }
      return
    }
    DispatchQueue.concurrentPerform(iterations: chunks.count) { body(chunks[$0]) }
  }
}
