import Foundation
import LanguageModels
import QuantCore
import SafeTensors
import Testing

/// Bad model folders and bad calls give typed errors naming the file, tensor or key.
@Suite("Bad input")
struct BadInputTests {
  /// A copy of a fixture folder in a temporary directory, edited by `edit`.
  static func editedCopy(of name: String, _ edit: (URL) throws -> Void) throws -> URL {
    let source = try LanguageModelFixture(name).directory
    let folder = FileManager.default.temporaryDirectory.appending(path: "lm-bad-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for file in ["config.json", "model.safetensors"] {
      try FileManager.default.copyItem(at: source.appending(path: file), to: folder.appending(path: file))
    }
    try edit(folder)
    return folder
  }

  /// Rewrites `model.safetensors` keeping the tensors `keep` accepts.
  static func rewriteWeights(_ folder: URL, keep: (String) -> Bool) throws {
    let url = folder.appending(path: "model.safetensors")
    let file = try SafeTensorsFile(contentsOf: url)
    var tensors: [(String, Tensor)] = []
    for name in file.tensorNames where keep(name) {
      if let tensor = try file.tensor(named: name) { tensors.append((name, tensor)) }
    }
    let output = folder.appending(path: "rewritten.safetensors")
    let writer = try SafeTensorsWriter(url: output)
    for (name, tensor) in tensors { try writer.add(tensor, named: name) }
    _ = try writer.finish()
    try FileManager.default.removeItem(at: url)
    try FileManager.default.moveItem(at: output, to: url)
  }

  @Test func promptLongerThanMaxPositions() throws {
    let model = try LanguageModelFixture("llama").load()
    #expect(throws: LanguageModelError.sequenceTooLong(positions: 65, maximum: 64)) {
      try model.logits(for: Array(repeating: 1, count: 65), cache: model.makeCache())
    }
    let cache = model.makeCache()
    _ = try model.logits(for: Array(repeating: 1, count: 60), cache: cache)
    #expect(throws: LanguageModelError.sequenceTooLong(positions: 65, maximum: 64)) {
      try model.logits(for: Array(repeating: 1, count: 5), cache: cache)
    }
    #expect(cache.count == 60)  // a failed call leaves the cache as it was
    #expect(throws: LanguageModelError.invalidToken(128, vocabularySize: 128)) {
      try model.logits(for: [128], cache: cache)
    }
    #expect(throws: LanguageModelError.emptyInput) { try model.logits(for: [], cache: cache) }
  }

  @Test func missingTensorIsNamed() throws {
    let folder = try Self.editedCopy(of: "llama") { try Self.rewriteWeights($0) { $0 != "model.layers.1.mlp.up_proj.weight" } }
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(
      throws: LanguageModelError.missingTensor(
        file: folder.appending(path: "model.safetensors").path, tensor: "model.layers.1.mlp.up_proj.weight")
    ) { try LanguageModel.load(directory: folder) }
  }

  @Test func shapeMismatchNamesTensorAndShapes() throws {
    let folder = try Self.editedCopy(of: "llama") { folder in
      let url = folder.appending(path: "config.json")
      let text = try String(contentsOf: url, encoding: .utf8)
        .replacingOccurrences(of: "\"intermediate_size\": 128", with: "\"intermediate_size\": 192")
      try text.write(to: url, atomically: true, encoding: .utf8)
    }
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(
      throws: LanguageModelError.shapeMismatch(
        file: folder.appending(path: "model.safetensors").path, tensor: "model.layers.0.mlp.gate_proj.weight",
        expected: [192, 64], found: [128, 64])
    ) { try LanguageModel.load(directory: folder) }
  }

  @Test func corruptedCheckpointNamesTheFile() throws {
    let folder = try Self.editedCopy(of: "llama") { folder in
      let url = folder.appending(path: "model.safetensors")
      let data = try Data(contentsOf: url)
      try data.prefix(data.count / 2).write(to: url)
    }
    defer { try? FileManager.default.removeItem(at: folder) }
    do {
      _ = try LanguageModel.load(directory: folder)
      Issue.record("a truncated checkpoint loaded")
    } catch {
      guard case .checkpoint(let file, _) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(file.hasSuffix("model.safetensors"))
    }
  }

  @Test func missingFilesAreNamed() throws {
    let noWeights = try Self.editedCopy(of: "llama") {
      try FileManager.default.removeItem(at: $0.appending(path: "model.safetensors"))
    }
    defer { try? FileManager.default.removeItem(at: noWeights) }
    do {
      _ = try LanguageModel.load(directory: noWeights)
      Issue.record("loaded a folder without weights")
    } catch {
      guard case .checkpoint(let file, let reason) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(file.hasPrefix(noWeights.path) && reason.contains("model.safetensors"))
    }
    let noConfig = try Self.editedCopy(of: "llama") { try FileManager.default.removeItem(at: $0.appending(path: "config.json")) }
    defer { try? FileManager.default.removeItem(at: noConfig) }
    #expect(
      throws: LanguageModelError.invalidConfiguration(
        file: noConfig.appending(path: "config.json").path, key: "config.json", reason: "the file cannot be read")
    ) { try LanguageModel.load(directory: noConfig) }
  }

  @Test func unavailableBackendIsRefused() throws {
    struct Absent: KernelBackend {
      var name: String { "absent" }
      var isAvailable: Bool { false }
      func accelerates(_ layout: StorageLayout) -> Bool { false }
      func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
        try ReferenceBackend().dequantize(tensor, to: dtype)
      }
      func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
        try ReferenceBackend().linear(input, weight: weight, bias: bias)
      }
    }
    let directory = try LanguageModelFixture("llama").directory
    #expect(
      throws: LanguageModelError.invalidConfiguration(
        file: directory.path, key: "backend", reason: "backend 'absent' is not available on this machine")
    ) { try LanguageModel.load(directory: directory, backend: Absent()) }
  }

  @Test func cacheOfAnotherModelIsRefused() throws {
    let llama = try LanguageModelFixture("llama").load()
    let mha = try LanguageModelFixture("llama-f32-mha").load()
    #expect(throws: LanguageModelError.self) { try llama.logits(for: [1], cache: mha.makeCache()) }
  }

  @Test func unsupportedArchitectureInFolder() throws {
    let folder = try Self.editedCopy(of: "llama") { folder in
      let url = folder.appending(path: "config.json")
      let text = try String(contentsOf: url, encoding: .utf8)
        .replacingOccurrences(of: "\"model_type\": \"llama\"", with: "\"model_type\": \"falcon\"")
      try text.write(to: url, atomically: true, encoding: .utf8)
    }
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(
      throws: LanguageModelError.unsupportedArchitecture(
        file: folder.appending(path: "config.json").path, found: "falcon",
        supported: ["llama", "mistral", "qwen2", "qwen3", "phi3", "gemma2"])
    ) { try LanguageModel.load(directory: folder) }
  }
}
