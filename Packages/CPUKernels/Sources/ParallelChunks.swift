/// Splits work over threads: `count` items in contiguous chunks whose boundaries are multiples of
/// `alignment` (except the last), up to ``chunksPerThread`` chunks per thread, run on the persistent
/// ``WorkerPool``, whose threads claim chunks as they become free (so a thread slowed by another process
/// hands its remaining chunks to the others).
///
/// Every item is processed by exactly one chunk and kernels compute each output independently of the
/// chunk boundaries, so results do not depend on the thread count.
enum ParallelChunks {
  /// Chunks per thread when more than one thread runs.
  static let chunksPerThread = 4

  /// How `0..<count` splits into at most `threads` chunks: the chunk count and each chunk's range.
  struct Split {
    let count: Int
    let alignment: Int
    let units: Int
    let parts: Int

    init(count: Int, threads: Int, alignment: Int) {
      self.count = max(count, 0)
      self.alignment = max(alignment, 1)
      units = (self.count + self.alignment - 1) / self.alignment
      let wanted = threads > 1 ? threads * ParallelChunks.chunksPerThread : 1
      parts = units == 0 ? 0 : max(1, min(wanted, units))
    }

    /// Chunk `part` (non-empty for every `part < parts`).
    func range(_ part: Int) -> Range<Int> {
      let lower = min(count, (units * part / parts) * alignment)
      let upper = min(count, (units * (part + 1) / parts) * alignment)
      return lower..<upper
    }
  }

  /// The chunks of `0..<count` for `threads` threads.
  static func ranges(count: Int, threads: Int, alignment: Int = 1) -> [Range<Int>] {
    let split = Split(count: count, threads: threads, alignment: alignment)
    return (0..<split.parts).map(split.range)
  }

  /// Runs `body` once per chunk, in parallel when there is more than one.
  static func run(count: Int, threads: Int, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
    let split = Split(count: count, threads: threads, alignment: alignment)
    if split.parts <= 1 {
      if split.parts == 1 { body(split.range(0)) }
      return
    }
    WorkerPool.shared.run(count: split.parts, threads: threads) { body(split.range($0)) }
  }
}
