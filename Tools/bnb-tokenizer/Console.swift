import Foundation

/// Where `bnb-tokenizer` writes: the process's stdout/stderr, or buffers in tests.
final class Console: @unchecked Sendable {
  // Guarded by `lock`.
  private var output: [UInt8] = []
  private var errors: [UInt8] = []
  private let lock = NSLock()
  private let buffered: Bool

  private init(buffered: Bool) { self.buffered = buffered }

  /// The process's standard output and error.
  static let standard = Console(buffered: false)

  /// A console that keeps what is written.
  static func buffer() -> Console { Console(buffered: true) }

  func write(_ text: String) {
    if buffered {
      lock.withLock { output += Array(text.utf8) }
    } else {
      FileHandle.standardOutput.write(Data(text.utf8))
    }
  }

  func writeError(_ text: String) {
    if buffered {
      lock.withLock { errors += Array(text.utf8) }
    } else {
      FileHandle.standardError.write(Data(text.utf8))
    }
  }

  /// What was written to standard output.
  var standardOutput: String { lock.withLock { String(decoding: output, as: UTF8.self) } }
  /// What was written to standard error.
  var standardError: String { lock.withLock { String(decoding: errors, as: UTF8.self) } }
}

/// Process control.
enum Platform {
  static func exitProcess(_ status: Int32) -> Never { exit(status) }
}
