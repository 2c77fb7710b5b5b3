/// Immutable bytes behind one or more tensors: either owned heap memory or a borrowed region
/// (such as a memory-mapped file) kept alive by a release action.
///
/// Storage is written once, while it is created, and only read afterwards; that is what makes it
/// safe to share between threads.
public final class TensorStorage: @unchecked Sendable {
  /// The bytes. Valid for the lifetime of this object.
  public let bytes: UnsafeRawBufferPointer
  private let release: (@Sendable () -> Void)?

  /// Allocates `byteCount` bytes and lets `initialize` write them.
  ///
  /// - Parameters:
  ///   - byteCount: The number of bytes to allocate.
  ///   - initialize: Writes the contents; the memory starts zeroed.
  /// - Throws: What `initialize` throws; the memory is released.
  public init<E: Error>(
    byteCount: Int,
    initializingWith initialize: (UnsafeMutableRawBufferPointer) throws(E) -> Void
  ) throws(E) {
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    memory.initializeMemory(as: UInt8.self, repeating: 0)
    let region = UnsafeMutableRawBufferPointer(rebasing: memory[0..<byteCount])
    do {
      try initialize(region)
    } catch {
      memory.deallocate()
      throw error
    }
    bytes = UnsafeRawBufferPointer(region)
    nonisolated(unsafe) let owned = memory
    release = { owned.deallocate() }
  }

  /// Wraps memory owned by someone else without copying it.
  ///
  /// - Parameters:
  ///   - bytes: The region; it must stay valid and unchanged until `release` runs.
  ///   - release: Called once when the storage is no longer referenced (for example `munmap`).
  public init(borrowing bytes: UnsafeRawBufferPointer, release: (@Sendable () -> Void)?) {
    self.bytes = bytes
    self.release = release
  }

  deinit { release?() }
}
