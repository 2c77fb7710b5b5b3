import Foundation
public import QuantCore
import SafeTensors

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

/// A fixture safetensors file, read with the library's own reader (`SafeTensorsFile`, memory-mapped).
public struct FixtureSafeTensors: TensorSource {
  /// Why a fixture could not be read.
  public struct LoadError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
  }

  private let file: SafeTensorsFile

  /// Opens a fixture file.
  ///
  /// - Parameter relativePath: A path under `Tests/Fixtures`.
  /// - Throws: `LoadError` when the file is missing or invalid.
  public init(_ relativePath: String) throws {
    let path = FixtureDirectory.path(relativePath)
    do {
      file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw LoadError(description: "fixture \(path): \(error) (regenerate with Tools/fixtures)")
    }
  }

  /// Every tensor name, sorted.
  public var tensorNames: [String] { file.tensorNames.sorted() }

  /// The tensor called `name`, or `nil`.
  ///
  /// - Parameter name: The key.
  /// - Returns: A tensor sharing the mapped file.
  /// - Throws: `QuantError` when the entry cannot be read.
  public func tensor(named name: String) throws(QuantError) -> Tensor? {
    try file.tensor(named: name)
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
