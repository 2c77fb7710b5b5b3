import Foundation
import QuantCore

/// Where `bnb-patch` writes: the process's standard output and error, or buffers (for running the
/// CLI in-process, as the tests do).
public final class Console: Sendable {
  private let isCapturing: Bool
  private let capture = Locked((output: "", error: ""))
  /// Whether standard error is a terminal (progress then redraws one line).
  public let errorIsTerminal: Bool

  /// The process's standard output and standard error.
  public static var standard: Console { Console(capturing: false) }

  /// A console that records everything written to it.
  public static func capturing() -> Console { Console(capturing: true) }

  private init(capturing: Bool) {
    isCapturing = capturing
    errorIsTerminal = capturing ? false : Platform.standardErrorIsTerminal
  }

  /// Everything written to standard output (capturing consoles only).
  public var capturedOutput: String { capture.withLock { $0.output } }
  /// Everything written to standard error (capturing consoles only).
  public var capturedError: String { capture.withLock { $0.error } }

  /// Writes to standard output.
  ///
  /// - Parameter text: The text, written as is.
  public func write(_ text: String) {
    if isCapturing {
      capture.withLock { $0.output += text }
    } else {
      FileHandle.standardOutput.write(Data(text.utf8))
    }
  }

  /// Writes to standard error.
  ///
  /// - Parameter text: The text, written as is.
  public func writeError(_ text: String) {
    if isCapturing {
      capture.withLock { $0.error += text }
    } else {
      FileHandle.standardError.write(Data(text.utf8))
    }
  }
}
