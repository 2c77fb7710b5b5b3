import QuantCore

/// Set by Ctrl-C, polled between tokens: it ends the current answer, not the program.
final class InterruptFlag: Sendable {
  private let state = Locked((requested: false, answering: false))

  /// Whether Ctrl-C was pressed during the current answer.
  var isSet: Bool { state.withLock { $0.requested } }

  /// Records a Ctrl-C.
  ///
  /// - Returns: Whether an answer was running to take it (otherwise the caller decides, e.g. exits).
  @discardableResult
  func set() -> Bool {
    state.withLock {
      $0.requested = true
      return $0.answering
    }
  }

  /// Marks the start of an answer (forgetting earlier Ctrl-Cs) or its end.
  func answering(_ running: Bool) {
    state.withLock { $0 = (requested: false, answering: running) }
  }
}
