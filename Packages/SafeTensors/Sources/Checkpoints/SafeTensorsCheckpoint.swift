public import Foundation
public import QuantCore

/// The weights of a model: one safetensors file, or shards listed by `model.safetensors.index.json`.
///
/// Opening maps and validates every file and checks that the index agrees with the shards (every
/// listed tensor exists in its shard, every shard exists). Tensors are views of the mappings.
///
/// ```swift
/// let weights = try SafeTensorsCheckpoint(contentsOf: URL(filePath: "Llama-3-8B"))  // a folder
/// for name in weights.tensorNames { … }
/// ```
public final class SafeTensorsCheckpoint: TensorSource, Sendable {
  /// The name of the index file of a sharded checkpoint.
  public static let indexFileName = "model.safetensors.index.json"
  /// The name of a single-file checkpoint in a model folder.
  public static let singleFileName = "model.safetensors"

  /// The files, in shard order.
  public let files: [SafeTensorsFile]
  /// The index file, for a sharded checkpoint.
  public let indexURL: URL?
  /// Every tensor name, shard by shard, in each shard's data order.
  public let tensorNames: [String]
  private let location: [String: Int]

  /// Opens a checkpoint from a `.safetensors` file, an index file, or a folder holding either.
  ///
  /// - Parameter url: The file or folder.
  /// - Throws: `SafeTensorsError` for missing or invalid files and indexes that disagree with shards.
  public init(contentsOf url: URL) throws(SafeTensorsError) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw .io(file: url.path, operation: "open", reason: "no such file or folder")
    }
    var target = url
    if isDirectory.boolValue {
      let index = url.appending(path: SafeTensorsCheckpoint.indexFileName)
      let single = url.appending(path: SafeTensorsCheckpoint.singleFileName)
      if FileManager.default.fileExists(atPath: index.path) {
        target = index
      } else if FileManager.default.fileExists(atPath: single.path) {
        target = single
      } else {
        throw .io(
          file: url.path, operation: "find weights",
          reason: "the folder has neither \(SafeTensorsCheckpoint.singleFileName) nor \(SafeTensorsCheckpoint.indexFileName)")
      }
    }
    if target.lastPathComponent.hasSuffix(".index.json") {
      let index = try SafeTensorsIndex(contentsOf: target)
      var files: [SafeTensorsFile] = []
      var fileNumber: [String: Int] = [:]
      for shard in index.shardNames {
        fileNumber[shard] = files.count
        files.append(try SafeTensorsFile(contentsOf: target.deletingLastPathComponent().appending(path: shard)))
      }
      var location: [String: Int] = [:]
      for (name, shard) in index.weightMap {
        guard let number = fileNumber[shard] else { continue }
        guard files[number].entry(named: name) != nil else {
          throw .invalidIndex(file: target.path, reason: "tensor '\(name)' is mapped to \(shard), which does not contain it")
        }
        location[name] = number
      }
      self.files = files
      self.indexURL = target
      self.location = location
      self.tensorNames = files.enumerated().flatMap { number, file in file.tensorNames.filter { location[$0] == number } }
    } else {
      let file = try SafeTensorsFile(contentsOf: target)
      self.files = [file]
      self.indexURL = nil
      self.location = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, 0) })
      self.tensorNames = file.tensorNames
    }
  }

  /// The `__metadata__` of the first file.
  public var metadata: SafeTensorsMetadata { files.first?.metadata ?? SafeTensorsMetadata() }

  /// The file holding `name`, or `nil`.
  ///
  /// - Parameter name: A tensor name.
  public func file(containing name: String) -> SafeTensorsFile? { location[name].map { files[$0] } }

  /// The entry (dtype, shape, offsets) of `name`, or `nil`.
  ///
  /// - Parameter name: A tensor name.
  public func entry(named name: String) -> SafeTensorsEntry? { file(containing: name)?.entry(named: name) }

  /// The tensor called `name` (a view of its shard's mapping), or `nil`.
  ///
  /// - Parameter name: A tensor name.
  /// - Throws: Never in practice: files were validated when opened.
  public func tensor(named name: String) throws(QuantError) -> Tensor? {
    try file(containing: name)?.tensor(named: name)
  }

  /// The total number of tensor data bytes.
  public var totalByteCount: Int { files.reduce(0) { $0 + $1.entries.reduce(0) { $0 + $1.byteCount } } }
}

/// The contents of `model.safetensors.index.json`: which shard holds each tensor.
public struct SafeTensorsIndex: Sendable, Equatable {
  /// Tensor name → shard file name.
  public var weightMap: [String: String]
  /// The `metadata.total_size` value, if present.
  public var totalSize: Int?
  /// The `metadata.total_parameters` value, if present (newer transformers write it).
  public var totalParameters: Int?

  /// The shard file names in sorted order.
  public var shardNames: [String] { Array(Set(weightMap.values)).sorted() }

  /// Creates an index.
  ///
  /// - Parameters:
  ///   - weightMap: Tensor name → shard file name.
  ///   - totalSize: The total tensor bytes.
  ///   - totalParameters: The total number of parameters, if known.
  public init(weightMap: [String: String], totalSize: Int?, totalParameters: Int? = nil) {
    self.weightMap = weightMap
    self.totalSize = totalSize
    self.totalParameters = totalParameters
  }

  /// Reads and validates an index file.
  ///
  /// - Parameter url: The index.
  /// - Throws: `SafeTensorsError.invalidIndex` or `.io`.
  public init(contentsOf url: URL) throws(SafeTensorsError) {
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw .io(file: url.path, operation: "read", reason: error.localizedDescription)
    }
    let json: JSONValue
    do {
      json = try JSONParser.parse(bytes: [UInt8](data))
    } catch {
      throw .invalidIndex(file: url.path, reason: "malformed JSON: \(error)")
    }
    guard json.members != nil else { throw .invalidIndex(file: url.path, reason: "the index is not a JSON object") }
    guard let map = json["weight_map"]?.members else {
      throw .invalidIndex(file: url.path, reason: "missing 'weight_map' object")
    }
    var weightMap: [String: String] = [:]
    for member in map {
      guard let shard = member.value.stringValue else {
        throw .invalidIndex(file: url.path, reason: "the shard of '\(member.key)' must be a file name string")
      }
      guard !shard.contains("/"), shard != "..", shard != "." else {
        throw .invalidIndex(file: url.path, reason: "shard name '\(shard)' of '\(member.key)' must be a file in the same folder")
      }
      guard weightMap.updateValue(shard, forKey: member.key) == nil else {
        throw .invalidIndex(file: url.path, reason: "tensor '\(member.key)' is listed twice")
      }
    }
    self.weightMap = weightMap
    self.totalSize = json["metadata"]?["total_size"]?.numberValue?.intValue
    self.totalParameters = json["metadata"]?["total_parameters"]?.numberValue?.intValue
  }

  /// The index as transformers writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`.
  public var fileContents: String {
    var metadata: [JSONMember] = []
    if let totalParameters { metadata.append(JSONMember(key: "total_parameters", value: .number(JSONNumber(totalParameters)))) }
    if let totalSize { metadata.append(JSONMember(key: "total_size", value: .number(JSONNumber(totalSize)))) }
    let json = JSONValue.object([
      JSONMember(key: "metadata", value: .object(metadata)),
      JSONMember(key: "weight_map", value: .object(weightMap.map { JSONMember(key: $0.key, value: .string($0.value)) })),
    ])
    return json.text(style: .python(indent: 2, sortKeys: true)) + "\n"
  }
}
