import QuantCore

/// Reusable scratch memory for kernel calls, so the hot path does not allocate (and, more
/// importantly, does not page-fault fresh memory) on every call.
///
/// A call takes a buffer at least as large as it needs and gives it back when done; concurrent
/// calls get different buffers. At most ``retainedBuffers`` buffers are kept, the largest first.
final class ScratchPool: Sendable {
  /// How many free buffers the pool keeps.
  static let retainedBuffers = 16

  private struct Buffer: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer
  }

  private let free = Locked<[Buffer]>([])

  deinit {
    free.withLock { buffers in
      for buffer in buffers { buffer.memory.deallocate() }
      buffers.removeAll()
    }
  }

  /// Calls `body` with at least `byteCount` bytes of uninitialized, 64-byte-aligned memory.
  func withBuffer<R, E: Error>(byteCount: Int, _ body: (UnsafeMutableRawPointer) throws(E) -> R) throws(E) -> R {
    let needed = max(byteCount, 64)
    let reused: Buffer? = free.withLock { buffers in
      guard let index = buffers.firstIndex(where: { $0.memory.count >= needed }) else { return nil }
      return buffers.remove(at: index)
    }
    let buffer = reused ?? Buffer(memory: .allocate(byteCount: needed, alignment: 64))
    defer {
      let dropped: Buffer? = free.withLock { buffers in
        buffers.append(buffer)
        buffers.sort { $0.memory.count > $1.memory.count }
        return buffers.count > ScratchPool.retainedBuffers ? buffers.removeLast() : nil
      }
      dropped?.memory.deallocate()
    }
    return try body(buffer.memory.baseAddress.unsafelyUnwrapped)
  }

  /// Typed convenience: at least `count` elements of `type`.
  func withBuffer<T, R, E: Error>(
    of type: T.Type, count: Int, _ body: (UnsafeMutablePointer<T>) throws(E) -> R
  ) throws(E) -> R {
    try withBuffer(byteCount: count * MemoryLayout<T>.stride) { (raw) throws(E) -> R in
      try body(raw.bindMemory(to: T.self, capacity: count))
    }
  }
}
