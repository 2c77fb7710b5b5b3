package import Foundation
import QuantCore
import _ModelPatcherNative

/// What a process must remove if it is stopped (SIGINT, SIGTERM) before its outputs are committed: the
/// staging folders of live ``OutputTransaction``s and the folders they created.
///
/// A command-line tool calls ``removeAll()`` from its signal handling before exiting, so that an
/// interrupt at any point — while planning, writing, or copying files — leaves nothing behind, even when
/// the running work cannot be cancelled promptly.
package enum InterruptCleanup {
  /// A registration, returned by ``register(removing:emptyFolders:)``.
  package struct Registration: Sendable, Hashable {
    let id: UInt64
  }

  private struct Entry {
    var removing: [URL]
    var emptyFolders: [URL]
  }

  private static let entries = Locked<(next: UInt64, live: [UInt64: Entry])>((0, [:]))
  /// Closed when the process exits after an interrupt; passed while a creator registers and creates its
  /// paths, so that an exit's ``closeAndRemoveAll()`` either sees them whole or keeps them from being made.
  private static let gate = ExitGate()

  /// Registers paths to remove on interrupt.
  ///
  /// - Parameters:
  ///   - removing: Removed with their contents.
  ///   - emptyFolders: Removed afterwards if empty, in order (deepest first).
  /// - Returns: The registration, to pass to ``unregister(_:)`` once committed or rolled back.
  package static func register(removing: [URL], emptyFolders: [URL]) -> Registration {
    entries.withLock { state in
      state.next += 1
      state.live[state.next] = Entry(removing: removing, emptyFolders: emptyFolders)
      return Registration(id: state.next)
    }
  }

  /// Registers paths and creates them in one step that an interrupt's ``closeAndRemoveAll()`` cannot split:
  /// either the exit waits for `create` and removes what it made, or `create` does not run.
  ///
  /// - Parameters:
  ///   - removing: Removed with their contents.
  ///   - emptyFolders: Removed afterwards if empty, in order (deepest first).
  ///   - create: Makes the paths; on failure it cleans up and throws.
  /// - Returns: The registration.
  /// - Throws: `ModelPatcherError.cancelled` once the process is exiting, or what `create` throws.
  package static func registerAndCreate(
    removing: [URL], emptyFolders: [URL], _ create: (Registration) throws(ModelPatcherError) -> Void
  ) throws(ModelPatcherError) -> Registration {
    try gate.pass { () throws(ModelPatcherError) -> Registration in
      let registration = register(removing: removing, emptyFolders: emptyFolders)
      try create(registration)
      return registration
    }
  }

  /// Marks the process as exiting and removes every registered path: called by an interrupted tool just before
  /// it exits. A ``registerAndCreate(removing:emptyFolders:_:)`` in progress finishes first (and its paths are
  /// removed); later ones throw `cancelled` without creating anything.
  package static func closeAndRemoveAll() {
    gate.close { removeAll() }
  }

  /// Forgets a registration.
  ///
  /// - Parameter registration: What ``register(removing:emptyFolders:)`` returned.
  package static func unregister(_ registration: Registration) {
    _ = entries.withLock { $0.live.removeValue(forKey: registration.id) }
  }

  /// Whether anything is staged now (an interrupt then needs ``removeAll()`` or a cancelled commit).
  package static var hasLiveOutputs: Bool { entries.withLock { !$0.live.isEmpty } }

  /// Removes every registered path (called just before an interrupted process exits).
  package static func removeAll() { removeAll { _ in true } }

  /// Removes the registered paths of the registrations `selected` picks (tests pick their own only).
  static func removeAll(where selected: (Registration) -> Bool) {
    let live = entries.withLock { state in
      let picked = state.live.filter { selected(Registration(id: $0.key)) }
      for key in picked.keys { state.live.removeValue(forKey: key) }
      return Array(picked.values)
    }
    for entry in live {
      for url in entry.removing { try? FileManager.default.removeItem(at: url) }
      for folder in entry.emptyFolders { _ = mp_remove_empty_folder(folder.path) }
    }
  }
}

/// A gate that work passes through until it is closed: ``pass(_:)`` runs its body with the gate held, and
/// ``close(then:)`` waits for a body in progress, closes the gate and runs its own body, after which every
/// ``pass(_:)`` throws `cancelled` without running. It keeps a process that exits on an interrupt from
/// racing the work that creates what the exit must remove.
package final class ExitGate: Sendable {
  private let closed = Locked(false)

  /// Creates an open gate.
  package init() {}

  /// Runs `body` unless the gate is closed, holding it so that ``close(then:)`` waits.
  ///
  /// - Parameter body: The work.
  /// - Returns: What `body` returns.
  /// - Throws: `ModelPatcherError.cancelled` when closed, or what `body` throws.
  package func pass<Result>(_ body: () throws(ModelPatcherError) -> Result) throws(ModelPatcherError) -> Result {
    try closed.withLock { (isClosed: inout Bool) throws(ModelPatcherError) -> Result in
      guard !isClosed else { throw .cancelled }
      return try body()
    }
  }

  /// Waits for a ``pass(_:)`` in progress, closes the gate, then runs `body` (still holding it).
  ///
  /// - Parameter body: What to do once nothing can pass any more.
  package func close(then body: () -> Void) {
    closed.withLock { isClosed in
      isClosed = true
      body()
    }
  }
}
