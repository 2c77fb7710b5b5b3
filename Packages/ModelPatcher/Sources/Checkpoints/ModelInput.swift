public import Foundation
public import QuantCore
public import SafeTensors

/// A model opened for reading: a Hugging Face folder (`config.json` + weights + other files) or a bare
/// `.safetensors` file. Nothing in it is ever modified.
public struct ModelInput: Sendable {
  /// The folder or file.
  public let url: URL
  /// Whether `url` is a model folder.
  public let isFolder: Bool
  /// The weights.
  public let checkpoint: SafeTensorsCheckpoint
  /// `config.json`, parsed, when the folder has one.
  package let configuration: JSONValue?
  /// Files of the folder that are neither weights nor `config.json` (tokenizer, generation config, …).
  public let otherFiles: [URL]

  /// The weight file names that are never copied as "other files".
  static let weightSuffixes = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5", ".gguf", ".index.json"]

  /// Opens a model folder or a `.safetensors` file (or a sharded checkpoint's index).
  ///
  /// - Parameter url: The folder or file.
  /// - Throws: `ModelPatcherError` when it does not exist, is not a model, or its files are invalid.
  public init(url: URL) throws(ModelPatcherError) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw .invalidInput(file: url.path, tensor: nil, message: "no such file or folder")
    }
    self.url = url
    self.isFolder = isDirectory.boolValue
    // Opening a named pipe blocks until a writer appears: every file that may be opened is checked first.
    let names: [String]
    if isDirectory.boolValue {
      do {
        names = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
      } catch {
        throw .io(path: url.path, operation: "list", reason: error.localizedDescription)
      }
      for name in names where name.hasSuffix(".safetensors") || name.hasSuffix(".json") {
        try ModelInput.requireRegularFile(url.appending(path: name))
      }
    } else {
      names = []
      try ModelInput.requireRegularFile(url)
      if url.lastPathComponent.hasSuffix(".index.json") {
        let folder = url.deletingLastPathComponent()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasSuffix(".safetensors")
        {
          try ModelInput.requireRegularFile(folder.appending(path: name))
        }
      }
    }
    do {
      checkpoint = try SafeTensorsCheckpoint(contentsOf: url)
    } catch {
      if case .io(_, "find weights", let reason) = error {
        throw .invalidInput(file: url.path, tensor: nil, message: "not a model folder: \(reason)")
      }
      throw .safeTensors(error)
    }
    try ModelInput.requireIndexCompleteness(checkpoint)
    guard isDirectory.boolValue else {
      configuration = nil
      otherFiles = []
      return
    }
    let configURL = url.appending(path: "config.json")
    if FileManager.default.fileExists(atPath: configURL.path) {
      let data: Data
      do {
        data = try Data(contentsOf: configURL)
      } catch {
        throw .io(path: configURL.path, operation: "read", reason: error.localizedDescription)
      }
      // Rewritten into the output: invalid bytes would come back as U+FFFD, silently changing the text.
      if let offset = ModelInput.firstInvalidUTF8Offset(in: data) {
        throw .invalidInput(
          file: configURL.path, tensor: nil, message: "config.json is not valid UTF-8 (first bad byte at offset \(offset))")
      }
      do {
        let json = try JSONParser.parse(bytes: [UInt8](data))
        guard json.members != nil else {
          throw ModelPatcherError.invalidInput(file: configURL.path, tensor: nil, message: "config.json is not a JSON object")
        }
        configuration = json
      } catch let error as JSONParser.Failure {
        throw .invalidInput(file: configURL.path, tensor: nil, message: "malformed JSON: \(error)")
      } catch let error as ModelPatcherError {
        throw error
      } catch {
        throw .invalidInput(file: configURL.path, tensor: nil, message: "\(error)")
      }
    } else {
      configuration = nil
    }
    var others: [URL] = []
    for name in names
    where !name.hasPrefix(".") && name != "config.json" && !ModelInput.weightSuffixes.contains(where: { name.hasSuffix($0) }) {
      let file = url.appending(path: name)
      var folder: ObjCBool = false
      if FileManager.default.fileExists(atPath: file.path, isDirectory: &folder), folder.boolValue { continue }
      try ModelInput.requireRegularFile(file)
      others.append(file)
    }
    otherFiles = others
  }

  /// Refuses a folder, pipe, device or socket where a file will be opened.
  static func requireRegularFile(_ url: URL) throws(ModelPatcherError) {
    if let problem = FileKindCheck.problem(at: url) {
      throw .invalidInput(file: url.path, tensor: nil, message: problem)
    }
  }

  /// Refuses a tensor that a shard holds but the index's `weight_map` does not list (it would be dropped).
  static func requireIndexCompleteness(_ checkpoint: SafeTensorsCheckpoint) throws(ModelPatcherError) {
    guard let index = checkpoint.indexURL else { return }
    let listed = Set(checkpoint.tensorNames)
    for file in checkpoint.files {
      for name in file.tensorNames where !listed.contains(name) {
        throw .invalidInput(
          file: file.url.path, tensor: name,
          message: "is in this shard but not in \(index.lastPathComponent)'s weight_map, so it would be dropped; "
            + "add it to the index or remove it from the shard")
      }
    }
  }

  /// The offset of the first byte that is not part of valid UTF-8, or `nil`.
  static func firstInvalidUTF8Offset(in data: Data) -> Int? {
    guard String(validating: data, as: UTF8.self) == nil else { return nil }
    var iterator = data.makeIterator()
    var decoder = UTF8()
    var offset = 0
    var consumed = 0
    while true {
      switch decoder.decode(&iterator) {
      case .scalarValue(let scalar):
        consumed += UTF8.width(scalar)
        offset = consumed
      case .emptyInput: return nil
      case .error: return offset
      }
    }
  }

  /// The `quantization_config` of `config.json`, if bitsandbytes.
  ///
  /// - Throws: `ModelPatcherError.invalidInput` for a malformed block.
  public func bitsAndBytesConfig() throws(ModelPatcherError) -> BitsAndBytesConfig? {
    guard let block = configuration?["quantization_config"], !block.isNull else { return nil }
    return try BitsAndBytesConfig.from(json: block, file: url.appending(path: "config.json").path)
  }

  /// The file a tensor lives in, for messages.
  ///
  /// - Parameter tensor: A tensor name.
  public func fileName(of tensor: String) -> String {
    checkpoint.file(containing: tensor)?.url.path ?? url.path
  }
}
