/// Errors from compiling or running Metal kernels in the emulator.
public enum MetalEmulatorError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No usable clang was found (set `MTLEMU_CLANG`, or put the Swift toolchain on `PATH`).
  case toolchainNotFound(String)
  /// The token pass refused a construct (`file:line` of the `.metal` source and the reason).
  case translationFailed(location: String, message: String)
  /// clang rejected the source or could not link it; `log` is clang's output.
  case compilationFailed(command: String, log: String)
  /// The compiled library could not be loaded.
  case libraryLoadFailed(String)
  /// The library has no kernel of that name.
  case unknownFunction(String, available: [String])
  /// A binding, size or option is invalid.
  case invalidArgument(String)
  /// The kernel failed at run time: out-of-bounds access, divergent SIMD-group, barrier misuse,
  /// unbound buffer, deadlock. The message names the kernel, threadgroup and thread.
  case dispatchFailed(String)

  /// A one-line, human-readable message.
  public var description: String {
    switch self {
    case .toolchainNotFound(let message): "Metal emulator: no clang found: \(message)"
    case .translationFailed(let location, let message): "\(location): error: \(message)"
    case .compilationFailed(let command, let log): "Metal emulator: compilation failed: \(command)\n\(log)"
    case .libraryLoadFailed(let message): "Metal emulator: cannot load the kernel library: \(message)"
    case .unknownFunction(let name, let available):
      "Metal emulator: no kernel named '\(name)'; available: \(available.joined(separator: ", "))"
    case .invalidArgument(let message): "Metal emulator: \(message)"
    case .dispatchFailed(let message): "Metal emulator: \(message)"
    }
  }
}
