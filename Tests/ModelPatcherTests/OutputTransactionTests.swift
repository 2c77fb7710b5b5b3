import BitsAndBytes
import Foundation
import QuantCore
import TestSupport
import Testing

@testable import ModelPatcher

/// The final rename never replaces, stale staging of dead processes is removed, an old output moved aside by a
/// killed overwrite comes back, and folders created for a failed output are removed.
@Suite("Output transactions: no-replace commit, stale staging, created folders")
struct OutputTransactionTests {
  /// A process id that no longer exists (a child that has exited and been reaped).
  static func deadProcessID() throws -> Int32 {
    let process = Process()
    process.executableURL = URL(filePath: "/bin/sh")
    process.arguments = ["-c", "exit 0"]
    try process.run()
    process.waitUntilExit()
    return process.processIdentifier
  }

  @Test("of two transactions on one destination, the later commit fails and the earlier output stays")
  func concurrentCommitsNeverReplace() throws {
    for isFolder in [true, false] {
      let folder = try TestFiles.scratchFolder()
      defer { try? FileManager.default.removeItem(at: folder) }
      let destination = folder.appending(path: isFolder ? "out" : "out.safetensors")
      let first = try OutputTransaction(destination: destination, isFolderOutput: isFolder, overwrite: false)
      let second = try OutputTransaction(destination: destination, isFolderOutput: isFolder, overwrite: false)
      let firstFile = isFolder ? first.staging.appending(path: "model.safetensors") : first.stagedFile
      let secondFile = isFolder ? second.staging.appending(path: "model.safetensors") : second.stagedFile
      try Data("first".utf8).write(to: firstFile)
      try Data("second".utf8).write(to: secondFile)
      try first.commit()
      #expect(throws: ModelPatcherError.outputExists(path: destination.path)) { try second.commit() }
      second.rollback()
      let written = isFolder ? destination.appending(path: "model.safetensors") : destination
      #expect(try Data(contentsOf: written) == Data("first".utf8))
      #expect(try TestFiles.contents(of: folder) == [destination.lastPathComponent])
    }
  }

  @Test("an empty folder that appears at the destination is not replaced either")
  func emptyFolderIsNotReplaced() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let destination = folder.appending(path: "out")
    let transaction = try OutputTransaction(destination: destination, isFolderOutput: true, overwrite: false)
    try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: false)
    #expect(throws: ModelPatcherError.outputExists(path: destination.path)) { try transaction.commit() }
  }

  @Test("staging folders of dead processes are removed; live ones and other outputs' are kept")
  func staleStagingIsRemoved() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let dead = try Self.deadProcessID()
    let live = ProcessInfo.processInfo.processIdentifier
    let names = [".out.partial-\(dead)-1a2b", ".out.partial-\(live)-3c4d", ".other.partial-\(dead)-5e6f", ".out.partial-x"]
    for name in names {
      try FileManager.default.createDirectory(at: folder.appending(path: name), withIntermediateDirectories: false)
      try Data("half".utf8).write(to: folder.appending(path: name).appending(path: "model-00001.safetensors"))
    }
    let transaction = try OutputTransaction(destination: folder.appending(path: "out"), isFolderOutput: true, overwrite: false)
    try transaction.commit()
    #expect(
      try TestFiles.contents(of: folder) == [".other.partial-\(dead)-5e6f", ".out.partial-\(live)-3c4d", ".out.partial-x", "out"])
  }

  @Test("an old output moved aside by a killed overwrite is put back, or dropped when the new one is in place")
  func asideOutputIsRecovered() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let dead = try Self.deadProcessID()
    let aside = folder.appending(path: ".out.old-\(dead)")
    try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: false)
    try Data("previous".utf8).write(to: aside.appending(path: "config.json"))
    let destination = folder.appending(path: "out")
    #expect(throws: ModelPatcherError.outputExists(path: destination.path)) {
      _ = try OutputTransaction(destination: destination, isFolderOutput: true, overwrite: false)
    }
    #expect(try Data(contentsOf: destination.appending(path: "config.json")) == Data("previous".utf8))
    try FileManager.default.createDirectory(at: aside, withIntermediateDirectories: false)
    let transaction = try OutputTransaction(destination: destination, isFolderOutput: true, overwrite: true)
    transaction.rollback()
    #expect(try TestFiles.contents(of: folder) == ["out"])
  }

  @Test("folders created for an output are removed when the run fails")
  func createdParentsAreRemoved() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"), poison: "model.layers.0.mlp.up_proj.weight")
    let job = QuantizationJob(
      model: model, output: folder.appending(path: "a/b/c/out"), quantization: BitsAndBytesConfig(loadIn8bit: true))
    let patcher = CheckpointPatcher(registry: try StandardRegistry.make())
    await #expect(throws: ModelPatcherError.self) { try await patcher.quantizeModel(job) }
    #expect(try TestFiles.contents(of: folder) == ["model"])
    // A folder that existed before stays, even when the run created folders below it.
    try FileManager.default.createDirectory(at: folder.appending(path: "a"), withIntermediateDirectories: false)
    await #expect(throws: ModelPatcherError.self) { try await patcher.quantizeModel(job) }
    #expect(try TestFiles.contents(of: folder) == ["a", "model"])
    #expect(try TestFiles.contents(of: folder.appending(path: "a")).isEmpty)
  }

  @Test("interrupt cleanup removes what is staged and the folders created for it")
  func interruptCleanupRemovesStaging() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let transaction = try OutputTransaction(
      destination: folder.appending(path: "x/y/out.safetensors"), isFolderOutput: false, overwrite: false)
    try Data("partial".utf8).write(to: transaction.stagedFile)
    #expect(InterruptCleanup.hasLiveOutputs)
    // The process-wide removeAll() (what bnb-patch calls) would also remove other tests' staging.
    InterruptCleanup.removeAll { $0 == transaction.registration }
    #expect(try TestFiles.contents(of: folder).isEmpty)
    transaction.rollback()
  }

  /// The race behind a rare fault-test failure: a signal during planning cancelled the job, and the job went on
  /// to create the output's folders while the exiting process removed what was registered, so a created
  /// folder could outlive the exit. The gate makes "register and create" and "remove and exit" exclusive.
  @Test("an exit waits for folders being created and then nothing more is created")
  func exitGateOrdersCreationAndExit() throws {
    let gate = ExitGate()
    let inside = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let events = Locked<[String]>([])
    let creator = Thread {
      _ = try? gate.pass { () throws(ModelPatcherError) in
        inside.signal()
        release.wait()
        events.withLock { $0.append("created") }
      }
    }
    creator.start()
    inside.wait()
    let closer = Thread { gate.close { events.withLock { $0.append("removed") } } }
    closer.start()
    // The closer cannot remove before the creation in progress ends.
    Thread.sleep(forTimeInterval: 0.05)
    #expect(events.withLock { $0 }.isEmpty)
    release.signal()
    while events.withLock({ $0.count }) < 2 { Thread.sleep(forTimeInterval: 0.001) }
    #expect(events.withLock { $0 } == ["created", "removed"])
    // Once closed, nothing passes.
    var ran = false
    #expect(throws: ModelPatcherError.cancelled) { try gate.pass { () throws(ModelPatcherError) in ran = true } }
    #expect(!ran)
  }
}
