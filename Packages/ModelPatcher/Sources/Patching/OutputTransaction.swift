import Foundation
import _ModelPatcherNative

/// Writes an output next to its destination and moves it into place only when complete.
///
/// - The staging folder is a hidden sibling of the destination, `.NAME.partial-PID-RANDOM`, so the final
///   rename never crosses file systems; a later run for the same destination removes the staging folders
///   of processes that no longer exist (a crash or SIGKILL leaves one behind).
/// - The final rename never replaces: without `overwrite` it is atomic and no-replace
///   (``OutputTransaction/commit()``), so of two runs writing one output the later one fails with
///   `outputExists` instead of deleting the earlier one's result. With `overwrite`, the old output is
///   moved aside to `.NAME.old-PID` first and deleted only after the new one is in place (a run killed in
///   between leaves it there; the next run puts it back when the destination is missing).
/// - Parent folders the transaction had to create are removed again when it fails (if still empty).
/// - While staged, the paths are registered with ``InterruptCleanup`` so that an interrupted process can
///   remove them before it exits.
final class OutputTransaction {
  let destination: URL
  let staging: URL
  let isFolderOutput: Bool
  private let overwrite: Bool
  /// The folders created for the output, deepest first (removed on failure while empty).
  private let createdFolders: [URL]
  let registration: InterruptCleanup.Registration
  private var done = false

  /// Prepares the staging folder.
  ///
  /// - Parameters:
  ///   - destination: The final folder or file.
  ///   - isFolderOutput: Whether the output is a folder (else a single file written as `staging/FILE`).
  ///   - overwrite: Whether an existing destination may be replaced.
  init(destination: URL, isFolderOutput: Bool, overwrite: Bool) throws(ModelPatcherError) {
    self.destination = destination
    self.isFolderOutput = isFolderOutput
    self.overwrite = overwrite
    let parent = destination.deletingLastPathComponent()
    OutputTransaction.recoverStaleFiles(of: destination)
    if FileManager.default.fileExists(atPath: destination.path) && !overwrite {
      throw .outputExists(path: destination.path)
    }
    createdFolders = OutputTransaction.missingFolders(parent)
    let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    staging = parent.appending(
      path: "\(OutputTransaction.stagingPrefix(of: destination))\(ProcessInfo.processInfo.processIdentifier)-\(random)")
    // Registered and created under InterruptCleanup's gate, so that an interrupt at any point can remove it:
    // an exiting process either waits for the folders and removes them, or keeps them from being created.
    let (staging, createdFolders) = (staging, createdFolders)
    registration = try InterruptCleanup.registerAndCreate(removing: [staging], emptyFolders: createdFolders) {
      (registration) throws(ModelPatcherError) in
      func undo() { Self.remove(staging: staging, createdFolders: createdFolders, registration: registration) }
      do {
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
      } catch {
        undo()
        throw .io(path: parent.path, operation: "create the output's folder", reason: error.localizedDescription)
      }
      do {
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
      } catch {
        undo()
        throw .io(path: staging.path, operation: "create a staging folder", reason: error.localizedDescription)
      }
    }
    FaultInjection.pause(at: "staged")
  }

  deinit { rollback() }

  /// The file the output is written to while staged, for single-file outputs.
  var stagedFile: URL { staging.appending(path: destination.lastPathComponent) }

  /// Moves the staged output into place. The rename refuses to replace anything: a destination that
  /// appeared while this run worked (another run's output) is kept and `outputExists` thrown.
  func commit() throws(ModelPatcherError) {
    FaultInjection.pause(at: "commit")
    if Task.isCancelled {
      rollback()
      throw .cancelled
    }
    let source = isFolderOutput ? staging : stagedFile
    let manager = FileManager.default
    var aside: URL?
    if overwrite && manager.fileExists(atPath: destination.path) {
      let old = destination.deletingLastPathComponent().appending(
        path: "\(OutputTransaction.asidePrefix(of: destination))\(ProcessInfo.processInfo.processIdentifier)")
      try? manager.removeItem(at: old)
      do {
        try manager.moveItem(at: destination, to: old)
      } catch {
        throw .io(path: destination.path, operation: "move the existing output aside", reason: error.localizedDescription)
      }
      aside = old
      FaultInjection.pause(at: "replace")
    }
    let code = mp_rename_noreplace(source.path, destination.path)
    guard code == 0 else {
      if let aside { _ = mp_rename_noreplace(aside.path, destination.path) }
      if code == -1 { throw .outputExists(path: destination.path) }
      throw .io(
        path: destination.path, operation: "move the finished output into place", reason: String(cString: mp_error_text(code)))
    }
    done = true
    if let aside { try? manager.removeItem(at: aside) }
    if !isFolderOutput { try? manager.removeItem(at: staging) }
    InterruptCleanup.unregister(registration)
  }

  /// Deletes everything staged and the folders created for the output (while empty); the destination
  /// is untouched.
  func rollback() {
    guard !done else { return }
    done = true
    Self.remove(staging: staging, createdFolders: createdFolders, registration: registration)
  }

  /// Removes the staging folder and the folders created for it (while empty), and forgets the registration.
  private static func remove(staging: URL, createdFolders: [URL], registration: InterruptCleanup.Registration) {
    try? FileManager.default.removeItem(at: staging)
    for folder in createdFolders { _ = mp_remove_empty_folder(folder.path) }
    InterruptCleanup.unregister(registration)
  }

  // MARK: - Folders and stale files

  /// `.NAME.partial-`: what every staging folder of `destination` starts with.
  static func stagingPrefix(of destination: URL) -> String { ".\(destination.lastPathComponent).partial-" }

  /// `.NAME.old-`: an old output moved aside while it is replaced.
  static func asidePrefix(of destination: URL) -> String { ".\(destination.lastPathComponent).old-" }

  /// `folder` and those of its parents that do not exist, deepest first.
  private static func missingFolders(_ folder: URL) -> [URL] {
    var missing: [URL] = []
    var current = folder.standardizedFileURL
    while current.path != "/", !FileManager.default.fileExists(atPath: current.path) {
      missing.append(current)
      current = current.deletingLastPathComponent()
    }
    return missing
  }

  /// Removes the staging folders of `destination` left by processes that no longer exist, and puts back an
  /// old output that a killed overwrite had moved aside (or removes it when the new output is in place).
  static func recoverStaleFiles(of destination: URL) {
    let parent = destination.deletingLastPathComponent()
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return }
    for name in names {
      for (prefix, isAside) in [(stagingPrefix(of: destination), false), (asidePrefix(of: destination), true)]
      where name.hasPrefix(prefix) {
        let pidText = name.dropFirst(prefix.count).prefix { $0 != "-" }
        guard let pid = Int32(pidText), mp_process_exists(pid) == 0 else { continue }
        let stale = parent.appending(path: name)
        if isAside && mp_rename_noreplace(stale.path, destination.path) == 0 { continue }
        try? FileManager.default.removeItem(at: stale)
      }
    }
  }
}
