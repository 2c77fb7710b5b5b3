/// A whole file mapped read-only into memory, unmapped when the last reference goes away.
final class MappedFile: @unchecked Sendable {
  /// The mapped bytes (never written).
  let bytes: UnsafeRawBufferPointer
  let path: String

  /// Maps `path` read-only.
  ///
  /// - Parameter path: A regular file.
  /// - Throws: `SafeTensorsError.io` when it cannot be opened, measured or mapped.
  init(path: String) throws(SafeTensorsError) {
    self.path = path
    let fd = try Platform.openForReading(path)
    defer { Platform.close(fd) }
    let size = try Platform.fileSize(fd, path: path)
    if size == 0 {
      bytes = UnsafeRawBufferPointer(start: nil, count: 0)
    } else {
      bytes = UnsafeRawBufferPointer(start: try Platform.mapReadOnly(fd, size: size, path: path), count: size)
    }
  }

  /// Returns the pages under `range` to the kernel; reading them again faults them back in.
  ///
  /// - Parameter range: Byte offsets into the file.
  func dropPages(_ range: Range<Int>) {
    guard let base = bytes.baseAddress, !range.isEmpty else { return }
    Platform.dropPages(base + range.lowerBound, count: range.count, mappingBase: base, mappingSize: bytes.count)
  }

  deinit {
    if let base = bytes.baseAddress { Platform.unmap(base, size: bytes.count) }
  }
}
