import Foundation

/// Paths of committed fixtures and scratch folders for the safetensors tests.
enum TestFiles {
  /// `Tests/Fixtures`.
  static let fixtures = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appending(path: "Fixtures")

  /// A fixture by relative path.
  static func fixture(_ path: String) -> URL { fixtures.appending(path: path) }

  /// A fresh empty folder under the system temporary directory.
  static func scratchFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appending(path: "safetensors-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The names in a folder, sorted, hidden files included.
  static func contents(of folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
  }
}
