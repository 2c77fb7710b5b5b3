public import Foundation

/// The clang that compiles emulated kernels, and where compiled libraries are cached.
///
/// clang is found, in order, at `MTLEMU_CLANG`, beside the `swift` on `PATH` (the toolchain ships
/// one), then at `/opt/swift/usr/bin/clang++` and `/usr/bin/clang++`. Libraries are cached by a hash of
/// their sources, the compatibility header, the runtime and the flags, under
/// `$TMPDIR/mtlemu-cache` (or `MTLEMU_CACHE`).
public struct EmulatorToolchain: Sendable {
  /// The clang++ executable.
  public var clang: URL
  /// The directory holding cached libraries.
  public var cacheDirectory: URL
  /// The directory holding the compatibility header and the runtime source.
  public var shimDirectory: URL

  /// Creates a toolchain description.
  ///
  /// - Parameters:
  ///   - clang: The clang++ executable.
  ///   - cacheDirectory: Where compiled libraries are kept.
  ///   - shimDirectory: The compatibility header and runtime (the module's `Shim` resource).
  public init(clang: URL, cacheDirectory: URL, shimDirectory: URL) {
    self.clang = clang
    self.cacheDirectory = cacheDirectory
    self.shimDirectory = shimDirectory
  }

  /// Finds clang and the shim the usual way.
  ///
  /// - Returns: The toolchain.
  /// - Throws: `MetalEmulatorError.toolchainNotFound` when no clang exists or the shim is missing.
  public static func detect() throws(MetalEmulatorError) -> EmulatorToolchain {
    let environment = ProcessInfo.processInfo.environment
    let fileManager = FileManager.default
    var candidates: [String] = []
    if let override = environment["MTLEMU_CLANG"], !override.isEmpty { candidates.append(override) }
    for directory in (environment["PATH"] ?? "").split(separator: ":") {
      let swift = URL(fileURLWithPath: String(directory)).appendingPathComponent("swift")
      if fileManager.isExecutableFile(atPath: swift.path) {
        let resolved = swift.resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(resolved.appendingPathComponent("clang++").path)
        candidates.append(swift.deletingLastPathComponent().appendingPathComponent("clang++").path)
      }
    }
    candidates += ["/opt/swift/usr/bin/clang++", "/usr/bin/clang++"]
    guard let clang = candidates.first(where: { fileManager.isExecutableFile(atPath: $0) }) else {
      throw .toolchainNotFound("looked at \(candidates.joined(separator: ", "))")
    }
    guard let shim = Bundle.module.url(forResource: "Shim", withExtension: nil) else {
      throw .toolchainNotFound("the MetalEmulator resource folder 'Shim' is missing")
    }
    let cache =
      environment["MTLEMU_CACHE"].map { URL(fileURLWithPath: $0) }
      ?? fileManager.temporaryDirectory.appendingPathComponent("mtlemu-cache-\(getuid())")
    return EmulatorToolchain(clang: URL(fileURLWithPath: clang), cacheDirectory: cache, shimDirectory: shim)
  }

  /// Runs clang with `arguments`; returns normally when it exits with status 0.
  ///
  /// - Parameter arguments: The command line after the executable.
  /// - Throws: `MetalEmulatorError.compilationFailed` with clang's output otherwise.
  func runClang(_ arguments: [String]) throws(MetalEmulatorError) {
    let process = Process()
    process.executableURL = clang
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = errors
    let command = ([clang.path] + arguments).joined(separator: " ")
    do {
      try process.run()
    } catch {
      throw .compilationFailed(command: command, log: "cannot start clang: \(error)")
    }
    let log = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw .compilationFailed(command: command, log: String(decoding: log, as: UTF8.self))
    }
  }
}
