// The POSIX calls safetensors I/O needs (open, mmap, madvise, pread/pwrite, fsync, rename), in one place.
#if canImport(Glibc)
  @preconcurrency import Glibc
#elseif canImport(Musl)
  @preconcurrency import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Thin wrappers over the C library; every failure becomes a ``SafeTensorsError/io(file:operation:reason:)``.
enum Platform {
  static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

  static func lastError() -> String { String(cString: strerror(errno)) }

  static func openForReading(_ path: String) throws(SafeTensorsError) -> Int32 {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw .io(file: path, operation: "open for reading", reason: lastError()) }
    return fd
  }

  static func createExclusive(_ path: String) throws(SafeTensorsError) -> Int32 {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .io(file: path, operation: "create", reason: lastError()) }
    return fd
  }

  static func createReadWriteExclusive(_ path: String) throws(SafeTensorsError) -> Int32 {
    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw .io(file: path, operation: "create", reason: lastError()) }
    return fd
  }

  static func fileSize(_ fd: Int32, path: String) throws(SafeTensorsError) -> Int {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .io(file: path, operation: "stat", reason: lastError()) }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw .io(file: path, operation: "read", reason: "not a regular file")
    }
    return Int(info.st_size)
  }

  static func mapReadOnly(_ fd: Int32, size: Int, path: String) throws(SafeTensorsError) -> UnsafeRawPointer {
    let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
    guard let pointer, pointer != MAP_FAILED else { throw .io(file: path, operation: "memory-map", reason: lastError()) }
    return UnsafeRawPointer(pointer)
  }

  static func unmap(_ pointer: UnsafeRawPointer, size: Int) {
    _ = munmap(UnsafeMutableRawPointer(mutating: pointer), size)
  }

  /// Drops the pages of a read-only file mapping from this process (they stay in the page cache and
  /// fault back in if read again).
  static func dropPages(_ start: UnsafeRawPointer, count: Int, mappingBase: UnsafeRawPointer, mappingSize: Int) {
    guard count > 0 else { return }
    let page = pageSize
    let first = (start - mappingBase) / page * page
    let end = min(((start - mappingBase) + count + page - 1) / page * page, (mappingSize + page - 1) / page * page)
    guard end > first else { return }
    _ = madvise(UnsafeMutableRawPointer(mutating: mappingBase + first), end - first, MADV_DONTNEED)
  }

  static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(SafeTensorsError) {
    var done = 0
    while done < buffer.count {
      guard let base = buffer.baseAddress else { return }
      let written = write(fd, base + done, min(buffer.count - done, 1 << 30))
      if written < 0 {
        if errno == EINTR { continue }
        throw .io(file: path, operation: "write", reason: lastError())
      }
      done += written
    }
  }

  static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SafeTensorsError) {
    let failure: SafeTensorsError? = bytes.withUnsafeBytes { buffer in
      do throws(SafeTensorsError) {
        try writeAll(fd, buffer, path: path)
        return nil
      } catch {
        return error
      }
    }
    if let failure { throw failure }
  }

  static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String)
    throws(SafeTensorsError)
  {
    var done = 0
    while done < buffer.count {
      guard let base = buffer.baseAddress else { return }
      let count = pread(fd, base + done, buffer.count - done, off_t(offset + done))
      if count < 0 {
        if errno == EINTR { continue }
        throw .io(file: path, operation: "read", reason: lastError())
      }
      guard count > 0 else { throw .io(file: path, operation: "read", reason: "unexpected end of file") }
      done += count
    }
  }

  static func sync(_ fd: Int32, path: String) throws(SafeTensorsError) {
    guard fsync(fd) == 0 else { throw .io(file: path, operation: "flush to disk", reason: lastError()) }
  }

  static func close(_ fd: Int32) { _ = closeFile(fd) }

  private static func closeFile(_ fd: Int32) -> Int32 {
    #if canImport(Darwin)
      Darwin.close(fd)
    #elseif canImport(Musl)
      Musl.close(fd)
    #else
      Glibc.close(fd)
    #endif
  }

  static func rename(_ from: String, to destination: String) throws(SafeTensorsError) {
    #if canImport(Darwin)
      let result = Darwin.rename(from, destination)
    #elseif canImport(Musl)
      let result = Musl.rename(from, destination)
    #else
      let result = Glibc.rename(from, destination)
    #endif
    guard result == 0 else { throw .io(file: destination, operation: "rename \(from) into place", reason: lastError()) }
  }

  static func remove(_ path: String) { _ = unlink(path) }

  static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  static var processID: Int32 { getpid() }
}
