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
