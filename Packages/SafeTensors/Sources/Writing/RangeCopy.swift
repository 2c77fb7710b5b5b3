// Copies byte ranges between files inside the kernel where it can (Linux `copy_file_range`), else
// through one buffer.
#if canImport(Glibc)
  @preconcurrency import Glibc
#elseif canImport(Musl)
  @preconcurrency import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

enum RangeCopy {
  /// `copy_file_range(2)`, looked up at run time (the C library's Swift module does not declare it).
  private typealias CopyFileRange =
    @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int

  private static let copyFileRange: CopyFileRange? = {
    #if os(Linux)
      guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "copy_file_range") else { return nil }
      return unsafeBitCast(symbol, to: CopyFileRange.self)
    #else
      return nil
    #endif
  }()

  /// Appends `count` bytes of `source` starting at `offset` to `destination` at its current position.
  ///
  /// - Parameters:
  ///   - source: A file opened for reading.
  ///   - offset: Where the bytes start in `source`.
  ///   - destination: A file opened for writing (its position advances by `count`).
  ///   - count: The number of bytes.
  ///   - buffer: Scratch memory for the fallback copy.
  ///   - sourcePath: The source's path, for read errors.
  ///   - path: The destination's path, for write errors.
  /// - Throws: `SafeTensorsError.io` on read or write failure.
  static func append(
    from source: Int32, offset: Int, to destination: Int32, count: Int, buffer: UnsafeMutableRawBufferPointer,
    sourcePath: String, path: String
  ) throws(SafeTensorsError) {
    var copied = 0
    if let copyFileRange {
      var position = Int64(offset)
      while copied < count {
        let done = copyFileRange(source, &position, destination, nil, count - copied, 0)
        if done > 0 {
          copied += done
          continue
        }
        if done < 0 && errno == EINTR { continue }
        // Not supported here (EXDEV, EINVAL, ENOSYS, EOPNOTSUPP) or an early end: finish with read/write,
        // which reports real errors.
        break
      }
    }
    while copied < count {
      let length = min(buffer.count, count - copied)
      let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
      try Platform.readAll(source, into: chunk, at: offset + copied, path: sourcePath)
      try Platform.writeAll(destination, UnsafeRawBufferPointer(chunk), path: path)
      copied += length
    }
  }
}
