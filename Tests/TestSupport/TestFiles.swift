public import Foundation

/// Paths of the repository, its fixtures and the bundled example model, and scratch folders, for tests
/// that read and write whole files (safetensors, model folders, job files).
public enum TestFiles {
  /// The repository root, found from this source file's path.
  public static let repository = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  /// `Tests/Fixtures`.
  public static let fixtures = repository.appending(path: "Tests/Fixtures")
  /// `Examples/tiny-llama`, the fp16 model the transformers fixtures were made from.
  public static let tinyLlama = repository.appending(path: "Examples/tiny-llama")

  /// A fixture by path relative to `Tests/Fixtures`.
  ///
  /// - Parameter path: The relative path.
  /// - Returns: Its URL.
  public static func fixture(_ path: String) -> URL { fixtures.appending(path: path) }

  /// A fresh, empty folder under the system's temporary directory.
  ///
  /// - Returns: The folder (the caller removes it).
  /// - Throws: When it cannot be created.
  public static func scratchFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appending(path: "swift-bitsandbytes-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The names in a folder, sorted, hidden ones included.
  ///
  /// - Parameter folder: The folder.
  /// - Returns: The names.
  /// - Throws: When the folder cannot be listed.
  public static func contents(of folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
  }
}
