// The platform code of the worker pool: starting a detached POSIX thread and yielding the processor.
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Detached threads for ``WorkerPool`` (one place for the POSIX calls).
enum WorkerThread {
  private final class Entry {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }

  /// Starts a detached thread running `body`.
  ///
  /// - Returns: `false` when the system refused to create the thread.
  static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
    #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
      let entry = Unmanaged.passRetained(Entry(body)).toOpaque()
      #if canImport(Darwin)
        var thread: pthread_t? = nil
      #else
        var thread = pthread_t()
      #endif
      let result = pthread_create(
        &thread, nil,
        { argument in
          #if canImport(Darwin)
            let raw: UnsafeMutableRawPointer = argument
          #else
            guard let raw = argument else { return nil }
          #endif
          Unmanaged<Entry>.fromOpaque(raw).takeRetainedValue().body()
          return nil
        }, entry)
      guard result == 0 else {
        Unmanaged<Entry>.fromOpaque(entry).release()
        return false
      }
      #if canImport(Darwin)
        if let thread { pthread_detach(thread) }
      #else
        pthread_detach(thread)
      #endif
      return true
    #else
      return false
    #endif
  }

  /// The value of environment variable `name`, if set.
  static func environment(_ name: String) -> String? {
    #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
      guard let value = getenv(name) else { return nil }
      return String(cString: value)
    #else
      return nil
    #endif
  }

  /// Gives the processor to another runnable thread.
  static func yieldProcessor() {
    #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
      sched_yield()
    #endif
  }
}
