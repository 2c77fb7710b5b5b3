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
    do {
      checkpoint = try SafeTensorsCheckpoint(contentsOf: url)
    } catch {
      if case .io(_, "find weights", let reason) = error {
        throw .invalidInput(file: url.path, tensor: nil, message: "not a model folder: \(reason)")
      }
      throw .safeTensors(error)
    }
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
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    } catch {
      throw .io(path: url.path, operation: "list", reason: error.localizedDescription)
    }
    otherFiles = names.filter { name in
      !name.hasPrefix(".") && name != "config.json" && !ModelInput.weightSuffixes.contains(where: { name.hasSuffix($0) })
    }.map { url.appending(path: $0) }.filter { file in
      var folder: ObjCBool = false
      return FileManager.default.fileExists(atPath: file.path, isDirectory: &folder) && !folder.boolValue
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
