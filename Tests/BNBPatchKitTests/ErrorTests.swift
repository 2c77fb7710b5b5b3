import BNBPatchKit
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

/// Every class of bad input: the message, the exit status, and that nothing was written.
@Suite("bnb-patch errors")
final class ErrorTests {
  let folder: URL
  init() throws { folder = try TestFiles.scratchFolder() }
  deinit { try? FileManager.default.removeItem(at: folder) }

  /// Runs with a job and checks status, message and that the folder holds only `expectedFiles`.
  func expectFailure(
    _ arguments: [String], status: BNBPatchKit.ExitStatus, message: String, files expectedFiles: [String],
    sourceLocation: Testing.SourceLocation = #_sourceLocation
  ) async throws {
    let run = await CLI.run(arguments)
    #expect(run.status == status.rawValue, "\(run.error)", sourceLocation: sourceLocation)
    #expect(run.error.contains(message), "\(run.error)", sourceLocation: sourceLocation)
    #expect(try TestFiles.contents(of: folder) == expectedFiles.sorted(), sourceLocation: sourceLocation)
  }

  @Test func usage() async throws {
    try await expectFailure(["--bogus"], status: .usage, message: "Unknown option '--bogus'", files: [])
    try await expectFailure([], status: .usage, message: "missing --config FILE", files: [])
  }

  @Test func malformedYAML() async throws {
    let job = try TestFiles.job("model: m\noutput: [out\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .configuration, message: "\(job):3:1: malformed YAML", files: ["job.yaml"])
  }

  @Test func unknownKeyAndFormat() async throws {
    let job = try TestFiles.job("model: m\noutput: out\nformat: int8\nrulez: []\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .configuration, message: "\(job):4:1: unknown key 'rulez'", files: ["job.yaml"])
    let model = try TestFiles.smallModel(in: folder.appending(path: "m"))
    let other = try TestFiles.job("model: m\noutput: out\nformat: int8\nrules:\n  - {match: '*', format: nf9}\n", in: folder)
    try await expectFailure(
      ["--config", other], status: .configuration, message: "\(other):5:26: unknown format 'nf9'", files: ["job.yaml", "m"])
    _ = model
  }

  @Test func unknownBackend() async throws {
    _ = try TestFiles.smallModel(in: folder.appending(path: "m"))
    let job = try TestFiles.job("model: m\noutput: out\nformat: int8\nbackend: tpu\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .configuration, message: "unknown backend 'tpu'; valid choices: auto, metal, cpu, reference",
      files: ["job.yaml", "m"])
  }

  @Test func badFormatParameter() async throws {
    _ = try TestFiles.smallModel(in: folder.appending(path: "m"))
    let job = try TestFiles.job("model: m\noutput: out\nformat: int8\nparameters: {blocksize: 64}\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .configuration, message: "format 'int8' has no parameter 'blocksize'", files: ["job.yaml", "m"])
  }

  @Test func missingModel() async throws {
    let job = try TestFiles.job("model: nowhere\noutput: out\nformat: int8\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .invalidInput, message: "\(folder.appending(path: "nowhere").path): no such file or folder",
      files: ["job.yaml"])
  }

  @Test func lyingHeader() async throws {
    let model = try TestFiles.smallModel(in: folder.appending(path: "m"))
    let weights = model.appending(path: "model.safetensors")
    var bytes = try [UInt8](Data(contentsOf: weights))
    // Make the first tensor's shape claim more bytes than its offsets span.
    let header = String(decoding: bytes[8..<(8 + Int(bytes[0]))], as: UTF8.self)
    let lying = header.replacingOccurrences(of: "[16,16]", with: "[16,17]")
    bytes.replaceSubrange(8..<(8 + lying.utf8.count), with: Array(lying.utf8))
    try Data(bytes).write(to: weights)
    let job = try TestFiles.job("model: m\noutput: out\nformat: int8\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .invalidInput,
      message:
        "\(weights.path): tensor 'model.layers.0.mlp.up_proj.weight': dtype and shape need 544 bytes but data_offsets span 512",
      files: ["job.yaml", "m"])
  }

  @Test func notSafetensors() async throws {
    let model = folder.appending(path: "m")
    try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
    try Data("not a model".utf8).write(to: model.appending(path: "model.safetensors"))
    let job = try TestFiles.job("model: m/model.safetensors\noutput: out.safetensors\nformat: int8\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .invalidInput, message: "header length", files: ["job.yaml", "m"])
  }

  @Test func unsupportedDTypeForFormat() async throws {
    let model = folder.appending(path: "m.safetensors")
    try SafeTensorsWriter.write(
      [NamedTensor("x.weight", try Tensor(converting: [Float](repeating: 0.5, count: 8), to: .float8E4M3, shape: [2, 4]))],
      to: model)
    let job = try TestFiles.job("model: m.safetensors\noutput: out.safetensors\nformat: int8\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .invalidInput,
      message: "tensor 'x.weight': int8: int8 quantization does not support dtype float8_e4m3fn",
      files: ["job.yaml", "m.safetensors"])
  }

  @Test func nonFiniteWeights() async throws {
    _ = try TestFiles.smallModel(in: folder.appending(path: "m"), poison: true)
    let job = try TestFiles.job("model: m\noutput: out\nformat: int8\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .nonFiniteWeights,
      message: "tensor 'model.layers.0.mlp.up_proj.weight' holds 1 NaN or infinite value", files: ["job.yaml", "m"])
  }

  @Test func outputExists() async throws {
    _ = try TestFiles.smallModel(in: folder.appending(path: "m"))
    try FileManager.default.createDirectory(at: folder.appending(path: "out"), withIntermediateDirectories: true)
    let job = try TestFiles.job("model: m\noutput: out\nformat: int8\n", in: folder)
    let run = await CLI.run(["--config", job])
    #expect(run.status == BNBPatchKit.ExitStatus.outputExists.rawValue)
    #expect(run.error.contains("\(folder.appending(path: "out").path) already exists"))
    #expect(try TestFiles.contents(of: folder.appending(path: "out")).isEmpty)
    let forced = await CLI.run(["--config", job, "--force", "--quiet"])
    #expect(forced.status == 0 && forced.output.isEmpty)
    try await expectFailure(
      ["dequantize", folder.appending(path: "nothing").path, "-o", folder.appending(path: "back").path], status: .invalidInput,
      message: "no such file or folder", files: ["job.yaml", "m", "out"])
  }

  @Test func ioFailure() async throws {
    _ = try TestFiles.smallModel(in: folder.appending(path: "m"))
    try Data("a file, not a folder".utf8).write(to: folder.appending(path: "blocker"))
    let job = try TestFiles.job("model: m\noutput: blocker/out\nformat: int8\n", in: folder)
    try await expectFailure(
      ["--config", job], status: .io, message: "\(folder.appending(path: "blocker").path): cannot create the output's folder",
      files: ["blocker", "job.yaml", "m"])
  }

  @Test func verificationMismatchedModels() async throws {
    _ = try TestFiles.smallModel(in: folder.appending(path: "m"))
    try await expectFailure(
      ["verify", TestFiles.fixture("hf/tiny-llama-bnb-int8").path, "--against", folder.appending(path: "m").path],
      status: .invalidInput, message: "the original has no tensor of this name", files: ["m"])
  }

  @Test func badRegistryFile() async throws {
    let registry = try TestFiles.job("formats:\n  nf9: {enabled: false}\n", in: folder, name: "registry.yaml")
    try await expectFailure(
      ["formats", "--registry", registry], status: .configuration, message: "\(registry):2:3: unknown format 'nf9'",
      files: ["registry.yaml"])
  }

  @Test func everyStatusIsDistinct() {
    #expect(Set(BNBPatchKit.ExitStatus.allCases.map(\.rawValue)).count == BNBPatchKit.ExitStatus.allCases.count)
  }
}
