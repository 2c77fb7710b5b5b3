public import Foundation

/// The committed inputs of the fuzz targets: `Tools/fuzz/corpus/<target>/` (seeds and everything the
/// fuzzers kept) and `Tools/fuzz/crashes/<target>/` (each input that once crashed, kept as a regression).
public enum FuzzCorpus {
  /// The regular files at `url`: the file itself, or the files in the folder (not recursive), sorted.
  ///
  /// - Parameter url: A file or folder.
  /// - Returns: The files; none when `url` does not exist.
  public static func files(at url: URL) -> [URL] {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else { return [] }
    guard isFolder.boolValue else { return [url] }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
    return names.sorted().filter { !$0.hasPrefix(".") }.map { url.appending(path: $0) }
  }

  /// The seed/kept corpus and the crash regressions of `target` under the repository root `root`.
  ///
  /// - Parameters:
  ///   - target: The fuzz target.
  ///   - root: The repository root.
  /// - Returns: Every committed input of the target.
  public static func committedInputs(of target: FuzzTarget, repository root: URL) -> [URL] {
    ["corpus", "crashes"].flatMap { kind in
      files(at: root.appending(path: "Tools/fuzz/\(kind)/\(target.rawValue)"))
    }
  }
}
