// The C library calls for Ctrl-C, in one place.
import Dispatch

#if canImport(Glibc)
  @preconcurrency import Glibc
#elseif canImport(Musl)
  @preconcurrency import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Routes SIGINT (Ctrl-C) to a handler instead of ending the process.
enum Interrupts {
  /// Starts routing.
  ///
  /// - Parameter handler: Called on a global queue for each signal.
  /// - Returns: The sources; cancel them to stop listening.
  static func route(_ handler: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
    [SIGINT].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler(handler: handler)
      source.resume()
      return source
    }
  }
}
