import Foundation
public import QuantCore

/// Where the committed fixtures live: `Tests/Fixtures`, found from this source file's path.
public enum FixtureDirectory {
  /// The absolute path of `Tests/Fixtures`.
  public static let path: String = {
    var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(2)  // TestSupport/FixtureSafeTensors.swift
    return components.joined(separator: "/") + "/Fixtures"
  }()

  /// The absolute path of a fixture.
  ///
  /// - Parameter relativePath: A path under `Tests/Fixtures` (`bnb/fourbit_f32.safetensors`).
  /// - Returns: The absolute path.
  public static func path(_ relativePath: String) -> String { path + "/" + relativePath }
}

/// A small, test-only safetensors reader for fixtures (a copy is loaded into memory).
///
/// It parses the header with Foundation and checks that each tensor's bytes fit; the library's own
/// reader (the `SafeTensors` module) does the full validation.
public struct FixtureSafeTensors: TensorSource {
  /// Why a fixture could not be read.
  public struct LoadError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
  }

  private let storage: TensorStorage
  private let entries: [String: (dtype: DType, shape: [Int], begin: Int, end: Int)]
  private let dataStart: Int

  /// Loads a fixture file.
  ///
  /// - Parameter relativePath: A path under `Tests/Fixtures`.
  /// - Throws: `LoadError` when the file is missing or malformed.
  public init(_ relativePath: String) throws {
    let path = FixtureDirectory.path(relativePath)
    guard let data = FileManager.default.contents(atPath: path) else {
      throw LoadError(description: "fixture \(path) is missing (generate it with Tools/fixtures)")
    }
    let bytes = [UInt8](data)
    guard bytes.count >= 8 else { throw LoadError(description: "\(path): too short") }
    let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    guard headerLength <= bytes.count - 8,
      let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any]
    else { throw LoadError(description: "\(path): bad header") }
    var entries: [String: (dtype: DType, shape: [Int], begin: Int, end: Int)] = [:]
    for (name, value) in header where name != "__metadata__" {
      guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
        let dtype = DType(safetensorsName: dtypeName), let shape = info["shape"] as? [Int],
        let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
        offsets[1] - offsets[0] == shape.reduce(1, *) * dtype.byteSize, offsets[1] <= bytes.count - 8 - headerLength
      else { throw LoadError(description: "\(path): bad entry \(name)") }
      entries[name] = (dtype, shape, offsets[0], offsets[1])
    }
    self.entries = entries
    self.dataStart = 8 + headerLength
    self.storage = TensorStorage(byteCount: bytes.count) { $0.copyBytes(from: bytes) }
  }

  /// Every tensor name, sorted.
  public var tensorNames: [String] { entries.keys.sorted() }

  /// The tensor called `name`, or `nil`.
  ///
  /// - Parameter name: The key.
  /// - Returns: A tensor sharing the file's bytes.
  /// - Throws: `QuantError` when the entry does not fit.
  public func tensor(named name: String) throws(QuantError) -> Tensor? {
    guard let entry = entries[name] else { return nil }
    return try Tensor(dtype: entry.dtype, shape: entry.shape, storage: storage, byteOffset: dataStart + entry.begin)
  }

  /// The tensor called `name`; throws when absent.
  ///
  /// - Parameter name: The key.
  /// - Returns: The tensor.
  /// - Throws: `LoadError` when absent.
  public func require(_ name: String) throws -> Tensor {
    guard let tensor = try tensor(named: name) else { throw LoadError(description: "fixture has no tensor '\(name)'") }
    return tensor
  }
}

/// JSON manifests of the fixtures.
public enum FixtureJSON {
  /// Loads a JSON object.
  ///
  /// - Parameter relativePath: A path under `Tests/Fixtures`.
  /// - Returns: The top-level object.
  /// - Throws: When the file is missing or not a JSON object.
  public static func load(_ relativePath: String) throws -> [String: Any] {
    let path = FixtureDirectory.path(relativePath)
    guard let data = FileManager.default.contents(atPath: path),
      let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw FixtureSafeTensors.LoadError(description: "fixture \(path) is missing or not a JSON object") }
    return object
  }
}
