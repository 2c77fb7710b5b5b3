import Foundation

/// Reads byte ranges of one tensor of a safetensors file with `pread`, into the caller's buffer.
///
/// Streaming quantization reads a large tensor chunk by chunk through this instead of the file's
/// mapping: the bytes pass through one reused buffer, so the resident set does not grow with the tensor.
package final class TensorByteReader {
  /// The tensor's entry.
  package let entry: SafeTensorsEntry
  private let path: String
  private let dataStart: Int
  private var fd: Int32

  /// Opens `file` for reading the tensor called `name`.
  ///
  /// - Parameters:
  ///   - name: The tensor's name.
  ///   - file: The file holding it.
  /// - Throws: `SafeTensorsError.tensorNotFound`, or `.io` when the file cannot be opened.
  package init(tensor name: String, in file: SafeTensorsFile) throws(SafeTensorsError) {
    guard let entry = file.entry(named: name) else { throw .tensorNotFound(file: file.url.path, tensor: name) }
    self.entry = entry
    self.path = file.url.path
    self.dataStart = file.header.dataStart + entry.start
    fd = try Platform.openForReading(path)
  }

  deinit { Platform.close(fd) }

  /// Reads the tensor's bytes `range` (offsets inside the tensor) into `buffer`, which must hold exactly
  /// `range.count` bytes.
  ///
  /// - Throws: `SafeTensorsError.invalidUse` for a range outside the tensor, `.io` on read failure.
  package func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(SafeTensorsError) {
    guard range.lowerBound >= 0, range.upperBound <= entry.byteCount, buffer.count == range.count else {
      throw .invalidUse(file: path, reason: "bytes \(range) of tensor '\(entry.name)' (\(entry.byteCount) bytes) requested")
    }
    try Platform.readAll(fd, into: buffer, at: dataStart + range.lowerBound, path: path)
  }
}
