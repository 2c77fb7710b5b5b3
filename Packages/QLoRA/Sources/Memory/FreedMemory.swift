#if canImport(Darwin)
  import Darwin
#elseif canImport(Glibc)
  import Glibc
#endif

/// Hands memory that the C allocator holds free back to the operating system.
///
/// A training step frees hundreds of megabytes of block temporaries, and an allocator keeps much of that
/// resident for reuse (glibc's raises its mmap threshold after the first large free, so later arrays of the
/// same size come from heaps that shrink only at the top). The step's peak resident set then exceeds its peak
/// of live bytes by that much.
enum FreedMemory {
  /// Returns free pages to the system: `malloc_trim(0)` with glibc (looked up at run time: other C libraries
  /// lack it), `malloc_zone_pressure_relief` on Darwin. Takes a few milliseconds; what is reused afterwards is
  /// faulted in again.
  static func release() {
    #if canImport(Darwin)
      _ = malloc_zone_pressure_relief(nil, 0)
    #elseif canImport(Glibc)
      guard let trim = mallocTrim else { return }
      _ = trim(0)
    #endif
  }

  #if canImport(Glibc)
    private typealias TrimFunction = @convention(c) (Int) -> Int32
    private static let mallocTrim: TrimFunction? = dlsym(nil, "malloc_trim").map {
      unsafeBitCast($0, to: TrimFunction.self)
    }
  #endif
}
