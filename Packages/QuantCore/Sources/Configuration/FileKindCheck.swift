public import Foundation

/// What kind of file system object a path names, checked before an input is opened: opening a named
/// pipe blocks until a writer appears, and a folder or device read as a file gives a misleading error.
package enum FileKindCheck {
  /// Why `url` cannot be read as a regular file (symbolic links followed), or `nil` when it can.
  ///
  /// - Parameter url: The path.
  /// - Returns: `"is a folder, not a file"`, `"is a named pipe (FIFO), not a regular file"`, … or `nil`
  ///   (a missing file is also `nil`: the caller's open reports it).
  package static func problem(at url: URL) -> String? {
    let path = url.resolvingSymlinksInPath().path
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let type = attributes[.type] as? FileAttributeType
    else { return nil }
    switch type {
    case .typeRegular: return nil
    case .typeDirectory: return "is a folder, not a file"
    case .typeCharacterSpecial, .typeBlockSpecial: return "is a device, not a regular file"
    case .typeSocket: return "is a socket, not a regular file"
    case .typeSymbolicLink: return "is a symbolic link to a missing file (an incomplete download?) or a loop of links"
    default: return "is a named pipe (FIFO) or another special file, not a regular file"
    }
  }
}
