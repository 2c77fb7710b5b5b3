public import Foundation

/// Compiles emulated kernels and the runtime's context switch for another target (`arm64-apple-macos15`)
/// without linking or running them: the check Linux CI can make of the macOS side of the emulator
/// without an Apple SDK. The kernels are translated for that target's object format and compiled
/// freestanding (the compatibility header needs no system header); the context switch header has no
/// includes at all.
public enum EmulatorCrossCheck {
  /// The targets the suite checks: Apple Silicon and Intel Macs, and Linux on AArch64.
  public static let targets: [(triple: String, objectFormat: EmulatorObjectFormat)] = [
    ("arm64-apple-macos15", .machO), ("x86_64-apple-macos15", .machO), ("aarch64-unknown-linux-gnu", .elf),
  ]

  /// Preprocesses, translates and compiles `sources` to an object file for `triple`.
  ///
  /// - Parameters:
  ///   - sources: The `.metal` files.
  ///   - triple: A clang target triple.
  ///   - objectFormat: The triple's object format.
  ///   - options: Compile options (definitions and include directories are honoured).
  ///   - toolchain: clang and the shim; detected when `nil`.
  /// - Returns: The translated C++ that was compiled (for inspection).
  /// - Throws: `MetalEmulatorError.compilationFailed` with clang's log, or `.translationFailed`.
  @discardableResult
  public static func compileKernels(
    sources: [URL], triple: String, objectFormat: EmulatorObjectFormat,
    options: EmulatorCompileOptions = EmulatorCompileOptions(), toolchain: EmulatorToolchain? = nil
  ) throws(MetalEmulatorError) -> String {
    let resolved: EmulatorToolchain
    if let toolchain { resolved = toolchain } else { resolved = try EmulatorToolchain.detect() }
    let directory = try scratchDirectory(resolved)
    defer { try? FileManager.default.removeItem(at: directory) }
    let wrapper = directory.appendingPathComponent("library.metal")
    let preprocessed = directory.appendingPathComponent("preprocessed.ii")
    let translated = directory.appendingPathComponent("kernels.ii")
    try write(sources.map { "#include \"\($0.path)\"\n" }.joined(), to: wrapper)
    var arguments = ["-target", triple, "-ffreestanding", "-E", "-x", "c++"] + EmulatorCompiler.commonFlags
    arguments += ["-isystem", resolved.shimDirectory.path, "-D__METAL_VERSION__=310", "-D__MTLEMU__=1"]
    arguments += options.includeDirectories.flatMap { ["-I", $0] }
    arguments += options.definitions.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" }
    try resolved.runClang(arguments + [wrapper.path, "-o", preprocessed.path])
    guard let data = FileManager.default.contents(atPath: preprocessed.path) else {
      throw .compilationFailed(command: "read \(preprocessed.path)", log: "cannot read the file")
    }
    let output = try MetalSourceTranslator(preprocessed: String(decoding: data, as: UTF8.self), objectFormat: objectFormat)
      .output
    try write(output, to: translated)
    try resolved.runClang(
      ["-target", triple, "-ffreestanding", "-x", "c++-cpp-output"] + EmulatorCompiler.commonFlags
        + [
          options.optimization, "-Werror=double-promotion", "-c", translated.path, "-o",
          directory.appendingPathComponent("kernels.o").path,
        ])
    return output
  }

  /// Compiles the runtime's context switch (`mtlemu_switch.h`) to an object file for `triple`.
  ///
  /// - Parameters:
  ///   - triple: A clang target triple.
  ///   - toolchain: clang and the shim; detected when `nil`.
  /// - Throws: `MetalEmulatorError.compilationFailed` with clang's log.
  public static func compileContextSwitch(triple: String, toolchain: EmulatorToolchain? = nil) throws(MetalEmulatorError) {
    let resolved: EmulatorToolchain
    if let toolchain { resolved = toolchain } else { resolved = try EmulatorToolchain.detect() }
    let directory = try scratchDirectory(resolved)
    defer { try? FileManager.default.removeItem(at: directory) }
    let source = directory.appendingPathComponent("switch.cpp")
    try write(
      "#include \"mtlemu_switch.h\"\n#ifndef MTLEMU_ASM_SWITCH\n#error no assembly switch for this target\n#endif\n"
        + "static void entry(void) {}\nvoid* mtlemu_check(void* top) { return mtlemu_initial_context(top, &entry); }\n",
      to: source)
    try resolved.runClang(
      [
        "-target", triple, "-ffreestanding", "-x", "c++", "-std=c++17", "-O2", "-I", resolved.shimDirectory.path, "-c",
        source.path, "-o", directory.appendingPathComponent("switch.o").path,
      ])
  }

  private static func scratchDirectory(_ toolchain: EmulatorToolchain) throws(MetalEmulatorError) -> URL {
    let directory = toolchain.cacheDirectory.appendingPathComponent(
      "cross-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))")
    do {
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw .compilationFailed(command: "mkdir \(directory.path)", log: "\(error)")
    }
    return directory
  }

  private static func write(_ text: String, to url: URL) throws(MetalEmulatorError) {
    do {
      try Data(text.utf8).write(to: url)
    } catch {
      throw .compilationFailed(command: "write \(url.path)", log: "\(error)")
    }
  }
}
