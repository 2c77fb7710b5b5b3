import Foundation

/// A value that threads share, read and written only while holding a lock.
///
/// The project's modules use this instead of `Synchronization.Mutex`: on Linux, `Mutex` is built on
/// raw futex calls that ThreadSanitizer does not see, so every access it guards is reported as a data
/// race (the CI's sanitizer job fails on them). `NSLock` is a `pthread_mutex_t`, which
/// ThreadSanitizer understands, and costs the same tens of nanoseconds uncontended.
package final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  // Held behind a pointer rather than as a stored property: ThreadSanitizer's Swift access checks
  // report a zero-sized stored property (`Locked<Void>`) at the object's own address, outside the lock.
  private let value: UnsafeMutablePointer<Value>

  /// Wraps `value`.
  package init(_ value: Value) {
    self.value = .allocate(capacity: 1)
    self.value.initialize(to: value)
  }

  deinit {
    value.deinitialize(count: 1)
    value.deallocate()
  }

  /// Calls `body` with exclusive access to the value and returns what it returns.
  package func withLock<Result, Failure: Error>(
    _ body: (inout Value) throws(Failure) -> Result
  ) throws(Failure) -> Result {
    lock.lock()
    defer { lock.unlock() }
    return try body(&value.pointee)
  }
}
