import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The built `bnb-patch` run as a separate process and interrupted, killed, raced and starved: it exits with
/// 130 on SIGINT/SIGTERM in every command, never leaves a staging folder that a rerun does not remove, never
/// leaves half an output, and of concurrent runs on one output exactly one writes it.
///
/// The process is stopped at deterministic points (`BNB_PATCH_TEST_PAUSE`, see `FaultInjection`), plus a few
/// kills at random moments whose outcome is checked whatever the moment was.
@Suite("Faults: signals, kills, concurrent runs, full and read-only disks", .serialized)
struct FaultTests {
  /// The `bnb-patch` built with these tests (beside the test executable), if any.
  static let binary: URL? = {
    let besideTests = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates =
      [besideTests.appending(path: "bnb-patch")]
      + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent().appending(path: "bnb-patch") }
      + [TestFiles.repository.appending(path: ".build/debug/bnb-patch")]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }()

  /// A running `bnb-patch`.
  final class Run {
    let process = Process()
    private let errorPipe = Pipe()
    private(set) var error = ""

    init(_ arguments: [String], pauseAt point: String? = nil, resumeWhen resumeFile: URL? = nil) throws {
      process.executableURL = try #require(FaultTests.binary, "bnb-patch was not built beside the tests")
      process.arguments = arguments
      var environment = ProcessInfo.processInfo.environment
      environment["BNB_PATCH_TEST_PAUSE"] = point
      environment["BNB_PATCH_TEST_RESUME"] = resumeFile?.path
      process.environment = environment
      process.standardOutput = FileHandle.nullDevice
      process.standardError = errorPipe
      try process.run()
    }

    /// Reads standard error until the process says it paused (or ends); `true` when it paused.
    func waitForPause() -> Bool {
      while !error.contains("paused at") {
        let data = errorPipe.fileHandleForReading.availableData
        if data.isEmpty { return false }
        error += String(decoding: data, as: UTF8.self)
      }
      return true
    }

    /// Sends `signal` and waits for the exit status (128 + n when killed by signal n).
    func stop(with signal: Int32) -> Int32 {
      kill(process.processIdentifier, signal)
      return finish()
    }

    /// Waits for the exit status, reading the rest of standard error.
    func finish() -> Int32 {
      error += String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }
  }

  /// Runs `bnb-patch` to completion.
  static func run(_ arguments: [String]) throws -> (status: Int32, error: String) {
    let run = try Run(arguments)
    let status = run.finish()
    return (status, run.error)
  }

  /// A scratch folder with a job quantizing the tiny Llama into `out`.
  struct Workspace {
    let folder: URL
    var output: URL { folder.appending(path: "out") }
    var job: String { folder.appending(path: "job.yaml").path }

    init() throws {
      folder = try TestFiles.scratchFolder()
      let yaml = "model: \(TestFiles.tinyLlama.path)\noutput: out\nformat: nf4\n"
      try Data(yaml.utf8).write(to: folder.appending(path: "job.yaml"))
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }

    /// The names in the folder (hidden ones included).
    func names() throws -> [String] { try TestFiles.contents(of: folder) }

    /// Whether `out` is a whole output: its files, and `inspect` reads every tensor.
    func outputIsWhole() throws -> Bool {
      let files = try TestFiles.contents(of: output)
      // The input's files, each copied or rewritten under its own name.
      let expected = try TestFiles.contents(of: TestFiles.tinyLlama).filter { !$0.hasPrefix(".") }
      guard files == expected else { return false }
      return try FaultTests.run(["inspect", output.path]).status == 0
    }
  }

  static let signals: [Int32] = [SIGINT, SIGTERM]

  @Test(
    "SIGINT and SIGTERM in quantize stop it with 130 and leave nothing",
    .enabled(if: binary != nil), arguments: signals, ["plan", "staged", "commit"])
  func quantizeIsInterruptible(_ signal: Int32, _ point: String) throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    let run = try Run(["--config", workspace.job, "-o", workspace.folder.appending(path: "new/deeper/out").path], pauseAt: point)
    #expect(run.waitForPause(), "never reached \(point): \(run.error)")
    #expect(run.stop(with: signal) == 130, "\(run.error)")
    #expect(run.error.contains("cancelled; no output was written"))
    #expect(try workspace.names() == ["job.yaml"])
  }

  @Test(
    "SIGINT and SIGTERM in dequantize, verify and inspect stop them with 130 and leave nothing",
    .enabled(if: binary != nil), arguments: signals,
    ["dequantize:staged", "dequantize:commit", "verify:verify", "inspect:inspect"])
  func otherCommandsAreInterruptible(_ signal: Int32, _ commandAndPoint: String) throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    #expect(try Self.run(["--config", workspace.job, "--quiet"]).status == 0)
    let parts = commandAndPoint.split(separator: ":").map(String.init)
    let arguments: [String] =
      switch parts[0] {
      case "dequantize": ["dequantize", workspace.output.path, "-o", workspace.folder.appending(path: "plain").path]
      case "verify": ["verify", workspace.output.path, "--against", TestFiles.tinyLlama.path]
      default: ["inspect", workspace.output.path]
      }
    let run = try Run(arguments, pauseAt: parts[1])
    #expect(run.waitForPause(), "never reached \(parts[1]): \(run.error)")
    #expect(run.stop(with: signal) == 130, "\(run.error)")
    #expect(try workspace.names() == ["job.yaml", "out"])
  }

  @Test("SIGKILL while staged or before the rename: no output; the rerun removes the stale staging", .enabled(if: binary != nil))
  func killThenRerun() throws {
    for point in ["staged", "commit"] {
      let workspace = try Workspace()
      defer { workspace.remove() }
      let run = try Run(["--config", workspace.job], pauseAt: point)
      #expect(run.waitForPause())
      #expect(run.stop(with: SIGKILL) == 128 + SIGKILL)
      let left = try workspace.names()
      #expect(left.count == 2 && left[0].hasPrefix(".out.partial-\(run.process.processIdentifier)-"), "\(left)")
      #expect(try Self.run(["--config", workspace.job, "--quiet"]).status == 0)
      #expect(try workspace.names() == ["job.yaml", "out"])
      #expect(try workspace.outputIsWhole())
    }
  }

  @Test("SIGKILL while an overwrite has moved the old output aside: the next run puts it back", .enabled(if: binary != nil))
  func killDuringReplace() throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    #expect(try Self.run(["--config", workspace.job, "--quiet"]).status == 0)
    let before = try Data(contentsOf: workspace.output.appending(path: "model.safetensors"))
    let run = try Run(["--config", workspace.job, "--force", "--format", "int8"], pauseAt: "replace")
    #expect(run.waitForPause())
    #expect(run.stop(with: SIGKILL) == 128 + SIGKILL)
    #expect(!FileManager.default.fileExists(atPath: workspace.output.path))
    #expect(try Self.run(["--config", workspace.job, "--quiet"]).status == 73)
    #expect(try Data(contentsOf: workspace.output.appending(path: "model.safetensors")) == before)
    #expect(try workspace.names() == ["job.yaml", "out"])
  }

  @Test("SIGKILL at random moments: the output is absent or whole, and a rerun completes", .enabled(if: binary != nil))
  func killAtRandomMoments() throws {
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<6 {
      let workspace = try Workspace()
      defer { workspace.remove() }
      let run = try Run(["--config", workspace.job, "--quiet"])
      usleep(UInt32.random(in: 0..<400_000, using: &generator))
      _ = run.stop(with: SIGKILL)
      if FileManager.default.fileExists(atPath: workspace.output.path) { #expect(try workspace.outputIsWhole()) }
      let rerun = try Self.run(["--config", workspace.job, "--quiet", "--force"])
      #expect(rerun.status == 0, "\(rerun.error)")
      #expect(try workspace.names() == ["job.yaml", "out"])
      #expect(try workspace.outputIsWhole())
    }
  }

  @Test("an input truncated while quantize reads it: exit 66 naming the tensor, nothing left", .enabled(if: binary != nil))
  func inputTruncatedWhileRead() throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    let model = workspace.folder.appending(path: "model")
    try FileManager.default.copyItem(at: TestFiles.tinyLlama, to: model)
    let resume = workspace.folder.appending(path: "resume")
    let yaml = "model: model\noutput: out\nformat: nf4\n"
    try Data(yaml.utf8).write(to: workspace.folder.appending(path: "job.yaml"))
    let truncated = try Run(["--config", workspace.job, "--quiet"], pauseAt: "staged", resumeWhen: resume)
    #expect(truncated.waitForPause())
    let weights = try FileHandle(forWritingTo: model.appending(path: "model.safetensors"))
    try weights.truncate(atOffset: 20_000)
    try weights.close()
    try Data().write(to: resume)
    #expect(truncated.finish() == 66, "\(truncated.error)")
    #expect(truncated.error.contains("unexpected end of file"), "\(truncated.error)")
    #expect(try workspace.names() == ["job.yaml", "model", "resume"])
  }

  @Test("of concurrent runs on one output, one writes it and the others exit 73", .enabled(if: binary != nil))
  func concurrentRuns() throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    let runs = try (0..<3).map { _ in try Run(["--config", workspace.job, "--quiet"]) }
    let statuses = runs.map { $0.finish() }.sorted()
    #expect(statuses == [0, 73, 73], "\(runs.map(\.error))")
    #expect(try workspace.names() == ["job.yaml", "out"])
    #expect(try workspace.outputIsWhole())
  }

  // MARK: - Full and read-only disks (a small tmpfs; needs the right to mount)

  /// Mounts a tmpfs at `folder` with `options`; `false` where this process may not mount.
  static func mountTmpfs(at folder: URL, options: String) -> Bool {
    let process = Process()
    process.executableURL = URL(filePath: "/bin/mount")
    process.arguments = ["-t", "tmpfs", "-o", options, "tmpfs", folder.path]
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
  }

  static func unmount(_ folder: URL) {
    let process = Process()
    process.executableURL = URL(filePath: "/bin/umount")
    process.arguments = [folder.path]
    try? process.run()
    process.waitUntilExit()
  }

  /// Whether this process may mount a tmpfs (root on Linux): the disk tests are skipped elsewhere.
  static let canMount: Bool = {
    guard binary != nil, let folder = try? TestFiles.scratchFolder() else { return false }
    defer { try? FileManager.default.removeItem(at: folder) }
    guard mountTmpfs(at: folder, options: "size=64k") else { return false }
    unmount(folder)
    return true
  }()

  @Test(
    "a full disk fails with 74 and leaves nothing (skipped where a tmpfs cannot be mounted)",
    .enabled(if: canMount, "needs the right to mount a small tmpfs (root on Linux)"))
  func fullDisk() throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    let disk = workspace.folder.appending(path: "disk")
    try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: false)
    #expect(Self.mountTmpfs(at: disk, options: "size=256k"))
    defer { Self.unmount(disk) }
    let result = try Self.run(["--config", workspace.job, "-o", disk.appending(path: "out").path])
    #expect(result.status == 74, "\(result.error)")
    #expect(result.error.contains("No space left on device"), "\(result.error)")
    #expect(try TestFiles.contents(of: disk).isEmpty)
  }

  @Test(
    "a read-only output folder fails with 74 and leaves nothing (skipped where a tmpfs cannot be mounted)",
    .enabled(if: canMount, "needs the right to mount a small tmpfs (root on Linux)"))
  func readOnlyOutput() throws {
    let workspace = try Workspace()
    defer { workspace.remove() }
    let disk = workspace.folder.appending(path: "disk")
    try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: false)
    #expect(Self.mountTmpfs(at: disk, options: "ro,size=64k"))
    defer { Self.unmount(disk) }
    for output in ["out", "new/out"] {
      let result = try Self.run(["--config", workspace.job, "-o", disk.appending(path: output).path])
      #expect(result.status == 74, "\(result.error)")
      #expect(result.error.contains("read only") || result.error.contains("Read-only"), "\(result.error)")
    }
    #expect(try TestFiles.contents(of: disk).isEmpty)
  }
}
