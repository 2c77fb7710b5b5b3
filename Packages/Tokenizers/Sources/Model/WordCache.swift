import Foundation

/// Remembers the ids of recently seen words (the Rust library caches the same way); shared between threads.
final class WordCache: @unchecked Sendable {
  // Guarded by `lock`.
  private var entries: [TokenKey: [Int]] = [:]
  private let lock = NSLock()
  private let capacity: Int
  /// Longer words are not worth keeping.
  private let maximumWordLength = 256

  init(capacity: Int = 10_000) { self.capacity = capacity }

  func lookUp(_ key: TokenKey) -> [Int]? {
    lock.lock()
    defer { lock.unlock() }
    return entries[key]
  }

  func store(_ key: TokenKey, _ ids: [Int]) {
    guard key.string.utf8.count <= maximumWordLength else { return }
    lock.lock()
    defer { lock.unlock() }
    if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
    entries[key] = ids
  }
}
