// The C library calls bnb-patch needs (signals, terminals, exit), in one place.
import Dispatch

#if canImport(Glibc)
  @preconcurrency import Glibc
#elseif canImport(Musl)
  @preconcurrency import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

enum Platform {
  /// Whether standard error is a terminal.
  static var standardErrorIsTerminal: Bool { isatty(2) != 0 }

  /// Routes SIGINT and SIGTERM to `handler` instead of killing the process.
  ///
  /// - Parameter handler: Called on a global queue for each signal.
  /// - Returns: The sources; cancel them to stop listening.
  static func onInterrupt(_ handler: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler(handler: handler)
      source.resume()
      return source
    }
  }

  /// Ends the process with `status`.
  static func exitProcess(_ status: Int32) -> Never { exit(status) }

  /// Ends the process with `status` at once, from any thread, without running exit handlers (which could
  /// race with the threads still working).
  static func exitImmediately(_ status: Int32) -> Never { _exit(status) }
}
