import Dispatch

/// Splits `0..<count` into one contiguous range per thread and runs them concurrently (the training ops'
/// element-wise and per-row work around the backend's GEMMs).
package enum ParallelRanges {
  /// Calls `body` once per range; returns when all are done. One thread (or a small count) runs inline.
  ///
  /// - Parameters:
  ///   - count: Items.
  ///   - threads: Ranges at most.
  ///   - minimum: Items per range below which fewer ranges are used.
  ///   - body: Works on one range; ranges do not overlap.
  package static func run(count: Int, threads: Int, minimum: Int = 1, _ body: (Range<Int>) -> Void) {
    let parts = max(1, min(threads, count / max(1, minimum)))
    guard parts > 1 else {
      if count > 0 { body(0..<count) }
      return
    }
    withoutActuallyEscaping(body) { body in
      // The ranges are disjoint and the call returns only when every range is done: what `body` captures is
      // used by one range at a time, and never after this call.
      nonisolated(unsafe) let work = body
      DispatchQueue.concurrentPerform(iterations: parts) { part in
        work((part * count / parts)..<((part + 1) * count / parts))
      }
    }
  }

  /// A new array of `count` values, its ranges filled concurrently by `body(range, values)` (each call
  /// writes only `values[range]`; `values` is the whole buffer).
  package static func filled(
    count: Int, threads: Int, minimum: Int = 1 << 14,
    _ body: (Range<Int>, UnsafeMutableBufferPointer<Float>) -> Void
  ) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      buffer.initialize(repeating: 0)
      nonisolated(unsafe) let values = buffer
      run(count: count, threads: threads, minimum: minimum) { range in body(range, values) }
      initialized = count
    }
  }
}
