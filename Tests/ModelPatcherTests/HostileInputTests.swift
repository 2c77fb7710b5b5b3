import BitsAndBytes
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Inputs met in practice that used to give a wrong answer or block: Hugging Face cache snapshots (links into
/// `../../blobs`), links leading outside the folder or nowhere, named pipes, shards with unindexed tensors,
/// invalid UTF-8 in `config.json`, incomplete checkpoints under `verify`, and out-of-range job parameters.
@Suite("Hostile and unusual inputs: clean errors, right answers")
struct HostileInputTests {
  let registry: QuantRegistry
  init() throws { registry = try StandardRegistry.make() }

  func job(_ model: URL, _ output: URL) -> QuantizationJob {
    QuantizationJob(model: model, output: output, quantization: BitsAndBytesConfig(loadIn8bit: true))
  }

  /// The error `body` throws, as a model patcher error.
  func failure(_ body: () async throws -> Void) async -> ModelPatcherError? {
    do {
      try await body()
      return nil
    } catch {
      return error as? ModelPatcherError
    }
  }

  /// Lays a model folder out as `huggingface_hub.snapshot_download` does: every file a relative link into
  /// `../../blobs/<name>`.
  static func cacheSnapshot(of model: URL, in cache: URL) throws -> URL {
    let repository = cache.appending(path: "models--test--tiny")
    let blobs = repository.appending(path: "blobs")
    let snapshot = repository.appending(path: "snapshots/0123abcd")
    try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
    for (number, name) in try TestFiles.contents(of: model).enumerated() {
      let blob = "blob\(number)"
      try FileManager.default.copyItem(at: model.appending(path: name), to: blobs.appending(path: blob))
      try FileManager.default.createSymbolicLink(
        atPath: snapshot.appending(path: name).path, withDestinationPath: "../../blobs/\(blob)")
    }
    return snapshot
  }

  @Test("a Hugging Face cache snapshot is read through its links and its files are copied as files")
  func cacheSnapshotCopiesContents() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let snapshot = try Self.cacheSnapshot(of: model, in: folder.appending(path: "hub"))
    let outside = folder.appending(path: "outside.txt")
    try Data("shared chat template".utf8).write(to: outside)
    try FileManager.default.createSymbolicLink(
      atPath: snapshot.appending(path: "chat_template.jinja").path, withDestinationPath: outside.path)
    let output = folder.appending(path: "out")
    let summary = try await CheckpointPatcher(registry: registry).quantizeModel(job(snapshot, output))
    #expect(summary.quantizedTensors == 3)
    #expect(
      try TestFiles.contents(of: output) == ["chat_template.jinja", "config.json", "model.safetensors", "tokenizer_config.json"])
    for name in ["chat_template.jinja", "tokenizer_config.json"] {
      let attributes = try FileManager.default.attributesOfItem(atPath: output.appending(path: name).path)
      #expect(attributes[.type] as? FileAttributeType == .typeRegular, "\(name) was copied as a link")
    }
    #expect(
      try Data(contentsOf: output.appending(path: "tokenizer_config.json"))
        == Data(contentsOf: model.appending(path: "tokenizer_config.json")))
    #expect(try Data(contentsOf: output.appending(path: "chat_template.jinja")) == Data("shared chat template".utf8))
  }

  @Test("a link that leads nowhere is named, not skipped")
  func danglingLinkIsRefused() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let link = model.appending(path: "tokenizer.json")
    try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "../../blobs/missing")
    let error = await failure {
      try await CheckpointPatcher(registry: self.registry).quantizeModel(self.job(model, folder.appending(path: "out")))
    }
    #expect(
      error
        == .invalidInput(
          file: link.path, tensor: nil,
          message: "is a symbolic link to a missing file (an incomplete download?) or a loop of links"))
    #expect(try TestFiles.contents(of: folder) == ["model"])
  }

  @Test(
    "named pipes as weights, other files or the input are refused before they are opened",
    arguments: ["model.safetensors", "tokenizer.json", "bare"])
  func pipesAreRefused(_ name: String) async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let pipe: URL
    let input: URL
    if name == "bare" {
      pipe = folder.appending(path: "weights.safetensors")
      input = pipe
    } else {
      pipe = model.appending(path: name)
      try? FileManager.default.removeItem(at: pipe)
      input = model
    }
    #expect(mkfifo(pipe.path, 0o600) == 0)
    let error = await failure {
      try await CheckpointPatcher(registry: self.registry).quantizeModel(self.job(input, folder.appending(path: "out")))
    }
    #expect(
      error
        == .invalidInput(
          file: pipe.path, tensor: nil, message: "is a named pipe (FIFO) or another special file, not a regular file"))
  }

  @Test("a tensor a shard holds but the index does not list is named, not dropped")
  func unindexedShardTensorIsRefused() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = folder.appending(path: "model")
    try FileManager.default.createDirectory(at: model, withIntermediateDirectories: false)
    let weight = try Tensor(converting: [Float](repeating: 0.5, count: 64), to: .float16, shape: [8, 8])
    try SafeTensorsWriter.write(
      [NamedTensor("a.weight", weight), NamedTensor("hidden.weight", weight)],
      to: model.appending(path: "model-00001-of-00001.safetensors"))
    let index = SafeTensorsIndex(weightMap: ["a.weight": "model-00001-of-00001.safetensors"], totalSize: 256)
    try Data(index.fileContents.utf8).write(to: model.appending(path: SafeTensorsCheckpoint.indexFileName))
    let error = await failure { _ = try ModelInput(url: model) }
    guard case .invalidInput(let file, let tensor, let message)? = error else {
      Issue.record("accepted or wrong error: \(String(describing: error))")
      return
    }
    #expect(file.hasSuffix("model-00001-of-00001.safetensors") && tensor == "hidden.weight")
    #expect(message.hasPrefix("is in this shard but not in model.safetensors.index.json's weight_map"))
  }

  @Test("config.json with invalid UTF-8 is refused with the offset of the first bad byte")
  func invalidUTF8ConfigIsRefused() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let config = model.appending(path: "config.json")
    try Data(#"{"model_type": "llama", "name": "caf"#.utf8 + [0xE9] + #""}"#.utf8).write(to: config)
    let error = await failure { _ = try ModelInput(url: model) }
    #expect(
      error
        == .invalidInput(file: config.path, tensor: nil, message: "config.json is not valid UTF-8 (first bad byte at offset 36)"))
  }

  @Test("config.json that is a folder says so")
  func folderConfigIsNamed() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let config = model.appending(path: "config.json")
    try FileManager.default.removeItem(at: config)
    try FileManager.default.createDirectory(at: config, withIntermediateDirectories: false)
    let error = await failure { _ = try ModelInput(url: model) }
    #expect(error == .invalidInput(file: config.path, tensor: nil, message: "is a folder, not a file"))
  }

  @Test("verify fails a checkpoint that lacks tensors of the original and names them")
  func verifyChecksCompleteness() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try TestFiles.writeSmallModel(in: folder.appending(path: "model"))
    let patcher = CheckpointPatcher(registry: registry)
    let output = folder.appending(path: "out")
    try await patcher.quantizeModel(job(model, output))
    #expect(try patcher.verify(quantized: output, against: model).passed)
    // The original gains a tensor the quantized checkpoint does not have.
    let original = try SafeTensorsCheckpoint(contentsOf: model)
    var tensors = try original.tensorNames.map { NamedTensor($0, try #require(try original.tensor(named: $0))) }
    tensors.append(
      NamedTensor(
        "model.layers.0.mlp.gate_proj.weight",
        try Tensor(converting: [Float](repeating: 0.1, count: 64), to: .float16, shape: [4, 16])))
    let larger = folder.appending(path: "larger")
    try FileManager.default.createDirectory(at: larger, withIntermediateDirectories: false)
    try SafeTensorsWriter.write(tensors, to: larger.appending(path: "model.safetensors"))
    let report = try patcher.verify(quantized: output, against: larger)
    #expect(report.missingTensors == ["model.layers.0.mlp.gate_proj.weight"])
    #expect(!report.passed)
  }

  @Test(
    "out-of-range and unknown parameters are blamed on their job line before anything is read",
    arguments: [
      (
        "format: fp8_e4m3\nparameters:\n  tile_size: 0\n",
        "job.yaml:5:3: parameter 'tile_size' of format 'fp8_e4m3' must be a positive integer; found 0"
      ),
      (
        "format: int8\nparameters:\n  threshold: .inf\n",
        "job.yaml:5:3: parameter 'threshold' of format 'int8' must be a finite number of at least 0.0; found inf"
      ),
      (
        "format: int8\nparameters:\n  threshold: -1\n",
        "job.yaml:5:3: parameter 'threshold' of format 'int8' must be a finite number of at least 0.0; found -1"
      ),
      ("format: nf4\nparameters:\n  block_size: 64\n", "job.yaml:5:3: format 'nf4' has no parameter 'block_size'"),
      (
        "format: nf4\nrules:\n  - match: '*'\n    format: int8\n    parameters: {weight_threshold: .nan}\n",
        "job.yaml:7:18: parameter 'weight_threshold' of format 'int8' must be a finite number"
      ),
    ])
  func parametersAreBlamedOnTheirLine(_ body: String, _ message: String) throws {
    let yaml = "model: /nonexistent\noutput: out\n" + body
    let job = try QuantizationJob(yaml: YAMLDocument(text: yaml, file: "job.yaml").root, baseFolder: URL(filePath: "/"))
    let patcher = CheckpointPatcher(registry: registry)
    do {
      _ = try patcher.resolveFormats(job)
      Issue.record("accepted: \(body)")
    } catch {
      #expect(error.category == .configuration)
      #expect(error.description.hasPrefix(message), "\(error.description)")
    }
  }
}
