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

  /// `llvm-symbolizer` beside clang, used to turn a fault address into a source line (optional).
  var symbolizer: URL? {
    let candidate = clang.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("llvm-symbolizer")
    return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
  }

  /// Replaces ` [mtlemu-pc 0x…]` in a runtime report with the source location(s) of that address.
  ///
  /// - Parameters:
  ///   - report: The runtime's message.
  ///   - library: The shared library the address belongs to.
  /// - Returns: The report with `at file:line:column` (innermost inlined frame first), or unchanged.
  func symbolicate(_ report: String, library: URL) -> String {
    guard let start = report.range(of: " [mtlemu-pc "), let end = report[start.upperBound...].firstIndex(of: "]"),
      let symbolizer
    else { return report }
    let address = String(report[start.upperBound..<end])
    let process = Process()
    process.executableURL = symbolizer
    process.arguments = ["--obj=\(library.path)", "--inlining", "--functions=none", address]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = Pipe()
    do {
      try process.run()
    } catch {
      return report
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let frames = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
      .filter { !$0.isEmpty && !$0.hasPrefix("??") && !$0.hasPrefix("<mtlemu") }
    guard !frames.isEmpty else { return report }
    return report.replacingCharacters(
      in: start.lowerBound...end, with: " at " + frames.joined(separator: ", inlined into "))
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
