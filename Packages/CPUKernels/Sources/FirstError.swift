import QuantCore

/// Collects the first error thrown by parallel workers, to rethrow it after they finish.
final class FirstError: Sendable {
  private let stored = Locked<QuantError?>(nil)

  /// Records `error` unless an earlier one was recorded.
  func record(_ error: QuantError) {
    stored.withLock { if $0 == nil { $0 = error } }
  }

  /// Throws the recorded error, if any.
  func rethrow() throws(QuantError) {
    if let error = stored.withLock({ $0 }) { throw error }
  }
}
