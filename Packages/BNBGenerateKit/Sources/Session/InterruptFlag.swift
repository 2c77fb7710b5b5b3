import QuantCore

/// Set by Ctrl-C, polled between tokens: it ends the current answer, not the program.
final class InterruptFlag: Sendable {
  private let state = Locked(false)

  /// Whether Ctrl-C was pressed since the last ``reset()``.
  var isSet: Bool { state.withLock { $0 } }

  /// Records a Ctrl-C.
  func set() { state.withLock { $0 = true } }

  /// Forgets earlier Ctrl-Cs (before each answer).
  func reset() { state.withLock { $0 = false } }
}
