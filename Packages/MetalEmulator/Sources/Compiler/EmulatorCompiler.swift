import Foundation
import QuantCore

/// How emulated kernels are compiled.
public struct EmulatorCompileOptions: Sendable, Hashable {
  /// clang's optimization level (`"-O1"` by default: kernels compile 2–3× faster than at -O2 and tests are dominated by compile time).
  public var optimization: String
  /// Whether fixed-size `thread`/`threadgroup` array indexing is bounds-checked (a trap, reported).
  public var boundsChecks: Bool
  /// Extra `-D` definitions (`["BLOCK": "64"]`).
  public var definitions: [String: String]
  /// Extra include directories for the `.metal` sources.
  public var includeDirectories: [String]

  /// Creates compile options.
  ///
  /// - Parameters:
  ///   - optimization: clang's optimization flag.
  ///   - boundsChecks: Trap on out-of-range fixed-size array indexing.
  ///   - definitions: Preprocessor definitions.
  ///   - includeDirectories: Header search paths.
  public init(
    optimization: String = "-O1", boundsChecks: Bool = true, definitions: [String: String] = [:],
    includeDirectories: [String] = []
  ) {
    self.optimization = optimization
    self.boundsChecks = boundsChecks
    self.definitions = definitions
    self.includeDirectories = includeDirectories
  }
}

/// Compiles `.metal` sources into a loadable kernel library (the emulator's `makeLibrary(source:)`).
enum EmulatorCompiler {
  /// Bump when the token pass or the command lines change, so stale cached libraries are ignored.
  static let version = "mtlemu-6"

  static let commonFlags = [
    "-std=c++17", "-fno-exceptions", "-fno-rtti", "-fPIC", "-fvisibility=hidden", "-ffp-contract=off",
    "-Xclang", "-ffloat16-excess-precision=none",
  ]

  static var targetFlags: [String] {
    #if arch(x86_64)
      return ["-march=native"]
    #else
      return []
    #endif
  }

  /// Serializes compilations in this process: parallel tests asking for the same library wait for
  /// the first compile instead of starting their own (other processes are safe through atomic renames).
  private static let compileLock = Locked(())

  /// Returns the path of a shared library holding the kernels of `sources`, compiling it if needed.
  static func library(
    sources: [URL], options: EmulatorCompileOptions, toolchain: EmulatorToolchain
  ) throws(MetalEmulatorError) -> URL {
    try compileLock.withLock { (_) throws(MetalEmulatorError) -> URL in
      try compileIfNeeded(sources: sources, options: options, toolchain: toolchain)
    }
  }

  private static func compileIfNeeded(
    sources: [URL], options: EmulatorCompileOptions, toolchain: EmulatorToolchain
  ) throws(MetalEmulatorError) -> URL {
    let fileManager = FileManager.default
    var hash = ContentHash()
    hash.combine(version)
    hash.combine(toolchain.clang.path)
    hash.combine(targetFlags.joined(separator: " "))
    hash.combine("\(options.optimization) \(options.boundsChecks) \(options.definitions.sorted { $0.key < $1.key })")
    hash.combine(options.includeDirectories.joined(separator: ":"))
    for source in sources {
      hash.combine(source.path)
      hash.combine(try contents(of: source))
    }
    let shimFiles = try shimContents(toolchain)
    for (name, data) in shimFiles {
      hash.combine(name)
      hash.combine(data)
    }
    let digest = hash.hexDigest
    let directory = toolchain.cacheDirectory.appendingPathComponent(digest)
    let library = directory.appendingPathComponent("kernels.so")
    if fileManager.fileExists(atPath: library.path) { return library }

    do {
      try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
      throw .compilationFailed(command: "mkdir \(directory.path)", log: "\(error)")
    }
    let unique = "\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
    let wrapper = directory.appendingPathComponent("library-\(unique).metal")
    let preprocessed = directory.appendingPathComponent("preprocessed-\(unique).ii")
    let translated = directory.appendingPathComponent("kernels-\(unique).ii")
    let temporaryLibrary = directory.appendingPathComponent("kernels-\(unique).so")
    defer {
      try? fileManager.removeItem(at: wrapper)
      try? fileManager.removeItem(at: preprocessed)
      try? fileManager.removeItem(at: translated)
    }
    let includes = sources.map { "#include \"\($0.path)\"\n" }.joined()
    try write(includes, to: wrapper)

    var preprocessArguments = ["-E", "-x", "c++"] + commonFlags
    preprocessArguments += ["-isystem", toolchain.shimDirectory.path, "-D__METAL_VERSION__=310", "-D__MTLEMU__=1"]
    preprocessArguments += options.includeDirectories.flatMap { ["-I", $0] }
    preprocessArguments += options.definitions.sorted { $0.key < $1.key }.map { "-D\($0.key)=\($0.value)" }
    preprocessArguments += [wrapper.path, "-o", preprocessed.path]
    try toolchain.runClang(preprocessArguments)

    let translator = try MetalSourceTranslator(preprocessed: try contents(of: preprocessed))
    try write(translator.output, to: translated)

    let runtime = try runtimeObject(toolchain: toolchain, shimFiles: shimFiles)
    var compileArguments = ["-x", "c++-cpp-output"] + commonFlags + targetFlags
    compileArguments += [options.optimization, "-gline-tables-only", "-Werror=double-promotion"]
    compileArguments += ["-Wno-unused-command-line-argument"]
    if options.boundsChecks { compileArguments += ["-fsanitize=bounds", "-fsanitize-trap=all"] }
    compileArguments += ["-shared", "-nostdlib++", translated.path, "-x", "none", runtime.path]
    compileArguments += ["-o", temporaryLibrary.path]
    try toolchain.runClang(compileArguments)
    if rename(temporaryLibrary.path, library.path) != 0 {
      throw .compilationFailed(command: "rename \(temporaryLibrary.path)", log: String(cString: strerror(errno)))
    }
    return library
  }

  /// The runtime compiled once per runtime source (cached beside the libraries).
  private static func runtimeObject(
    toolchain: EmulatorToolchain, shimFiles: [(String, [UInt8])]
  ) throws(MetalEmulatorError) -> URL {
    var hash = ContentHash()
    hash.combine(version)
    hash.combine(toolchain.clang.path)
    for (name, data) in shimFiles where name.hasPrefix("mtlemu_runtime") || name.hasPrefix("mtlemu_abi") {
      hash.combine(name)
      hash.combine(data)
    }
    let object = toolchain.cacheDirectory.appendingPathComponent("runtime-\(hash.hexDigest).o")
    if FileManager.default.fileExists(atPath: object.path) { return object }
    let temporary = toolchain.cacheDirectory.appendingPathComponent(
      "runtime-\(getpid())-\(UInt64.random(in: 0..<UInt64.max)).o")
    let source = toolchain.shimDirectory.appendingPathComponent("mtlemu_runtime.cpp")
    try toolchain.runClang(
      ["-x", "c++"] + commonFlags + ["-O2", "-c", source.path, "-I", toolchain.shimDirectory.path, "-o", temporary.path])
    if rename(temporary.path, object.path) != 0 {
      throw .compilationFailed(command: "rename \(temporary.path)", log: String(cString: strerror(errno)))
    }
    return object
  }

  private static func shimContents(_ toolchain: EmulatorToolchain) throws(MetalEmulatorError) -> [(String, [UInt8])] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: toolchain.shimDirectory.path).sorted()
    } catch {
      throw .toolchainNotFound("cannot list \(toolchain.shimDirectory.path): \(error)")
    }
    var result: [(String, [UInt8])] = []
    for name in names {
      let url = toolchain.shimDirectory.appendingPathComponent(name)
      guard let data = FileManager.default.contents(atPath: url.path) else { continue }
      result.append((name, [UInt8](data)))
    }
    return result
  }

  private static func contents(of url: URL) throws(MetalEmulatorError) -> String {
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw .compilationFailed(command: "read \(url.path)", log: "cannot read the file")
    }
    return String(decoding: data, as: UTF8.self)
  }

  private static func write(_ text: String, to url: URL) throws(MetalEmulatorError) {
    do {
      try Data(text.utf8).write(to: url)
    } catch {
      throw .compilationFailed(command: "write \(url.path)", log: "\(error)")
    }
  }
}
