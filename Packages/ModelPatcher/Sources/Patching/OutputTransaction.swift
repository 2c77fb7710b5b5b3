import Foundation

/// Writes an output next to its destination and moves it into place only when complete.
///
/// The staging folder is a hidden sibling of the destination (`.NAME.partial-PID-RANDOM`), so the final
/// rename never crosses file systems. An existing destination is refused unless `overwrite` is set;
/// when replacing, the old output is moved aside first and deleted only after the new one is in place.
final class OutputTransaction {
  let destination: URL
  let staging: URL
  let isFolderOutput: Bool
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
    if FileManager.default.fileExists(atPath: destination.path) && !overwrite {
      throw .outputExists(path: destination.path)
    }
    let parent = destination.deletingLastPathComponent()
    do {
      try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    } catch {
      throw .io(path: parent.path, operation: "create the output's folder", reason: error.localizedDescription)
    }
    let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    staging = parent.appending(
      path: ".\(destination.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)-\(random)")
    do {
      try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
    } catch {
      throw .io(path: staging.path, operation: "create a staging folder", reason: error.localizedDescription)
    }
  }

  deinit { rollback() }

  /// The file the output is written to while staged, for single-file outputs.
  var stagedFile: URL { staging.appending(path: destination.lastPathComponent) }

  /// Moves the staged output into place, replacing an existing destination.
  func commit() throws(ModelPatcherError) {
    let source = isFolderOutput ? staging : stagedFile
    let manager = FileManager.default
    var aside: URL?
    if manager.fileExists(atPath: destination.path) {
      let old = destination.deletingLastPathComponent().appending(
        path: ".\(destination.lastPathComponent).old-\(ProcessInfo.processInfo.processIdentifier)")
      try? manager.removeItem(at: old)
      do {
        try manager.moveItem(at: destination, to: old)
      } catch {
        throw .io(path: destination.path, operation: "move the existing output aside", reason: error.localizedDescription)
      }
      aside = old
    }
    do {
      try manager.moveItem(at: source, to: destination)
    } catch {
      if let aside { try? manager.moveItem(at: aside, to: destination) }
      throw .io(path: destination.path, operation: "move the finished output into place", reason: error.localizedDescription)
    }
    if let aside { try? manager.removeItem(at: aside) }
    if !isFolderOutput { try? manager.removeItem(at: staging) }
    done = true
  }

  /// Deletes everything staged; the destination is untouched.
  func rollback() {
    guard !done else { return }
    done = true
    try? FileManager.default.removeItem(at: staging)
  }
}
