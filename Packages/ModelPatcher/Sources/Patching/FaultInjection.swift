import Foundation

/// Deterministic pause points for the fault tests (`Tests/BNBPatchKitTests/FaultTests.swift`): with the
/// environment variable `BNB_PATCH_TEST_PAUSE` set to a point's name, the process writes
/// `bnb-patch: paused at NAME` to standard error when it reaches that point and waits there until its task
/// is cancelled, the process is killed, or the file named by `BNB_PATCH_TEST_RESUME` appears (then it goes
/// on), so a test can signal, kill or change the input in a known state instead of guessing with timers.
/// Without the variable every call returns at once.
///
/// Points: `plan` (tensors being planned, nothing written), `staged` (staging folder created, no tensor
/// written), `commit` (output complete in staging, not yet moved into place), `replace` (with overwrite:
/// the old output moved aside, the new one not yet in place), `verify` and `inspect`
/// (comparing or listing tensors).
package enum FaultInjection {
  private static let point = ProcessInfo.processInfo.environment["BNB_PATCH_TEST_PAUSE"]
  private static let resumeFile = ProcessInfo.processInfo.environment["BNB_PATCH_TEST_RESUME"]

  /// Pauses at `name` when the tests asked for it.
  ///
  /// - Parameter name: The point.
  package static func pause(at name: String) {
    guard point == name else { return }
    FileHandle.standardError.write(Data("bnb-patch: paused at \(name)\n".utf8))
    while !Task.isCancelled && !(resumeFile.map { FileManager.default.fileExists(atPath: $0) } ?? false) {
      Thread.sleep(forTimeInterval: 0.005)
    }
  }
}
