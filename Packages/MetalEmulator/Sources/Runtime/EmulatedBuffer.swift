import Foundation

/// Memory for emulated kernels, ending at a guard page (like `MTLBuffer`, but on the CPU).
///
/// The bytes are placed so that they end at most 15 bytes before an inaccessible page: a kernel that
/// reads or writes past the end faults, and the emulator reports the kernel, threadgroup, thread and
/// buffer index instead of silently reading neighbouring memory.
public final class EmulatedBuffer: @unchecked Sendable {
  /// The usable length in bytes.
  public let length: Int
  /// The first usable byte.
  public let contents: UnsafeMutableRawPointer
  private let region: UnsafeMutableRawPointer
  private let regionLength: Int

  /// Allocates a buffer.
  ///
  /// - Parameters:
  ///   - length: Usable bytes (0 allocates an empty, but bindable, buffer).
  ///   - fill: The initial value of every byte (`0xFF` poisons outputs: unwritten floats read as NaN).
  /// - Throws: `MetalEmulatorError.invalidArgument` when the memory cannot be mapped.
  public init(length: Int, fill: UInt8 = 0) throws(MetalEmulatorError) {
    guard length >= 0 else { throw .invalidArgument("buffer length \(length) is negative") }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let aligned = (length + 15) & ~15
    let dataPages = (aligned + page - 1) / page
    let total = (dataPages + 1) * page
    guard let mapped = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      mapped != UnsafeMutableRawPointer(bitPattern: -1)
    else {
      throw .invalidArgument("cannot map \(total) bytes")
    }
    mprotect(mapped + dataPages * page, page, PROT_NONE)
    region = mapped
    regionLength = total
    self.length = length
    contents = mapped + (dataPages * page - aligned)
    contents.initializeMemory(as: UInt8.self, repeating: fill, count: aligned)
  }

  /// Allocates a buffer holding a copy of `values`.
  ///
  /// - Parameter values: The elements, stored in native (little-endian) layout.
  /// - Throws: `MetalEmulatorError.invalidArgument` when the memory cannot be mapped.
  public convenience init<Element: BitwiseCopyable>(_ values: [Element]) throws(MetalEmulatorError) {
    try self.init(length: values.count * MemoryLayout<Element>.stride)
    values.withUnsafeBytes { contents.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(contents), byteCount: $0.count) }
  }

  /// Copies `count` elements out, starting `byteOffset` bytes in.
  ///
  /// - Parameters:
  ///   - type: The element type.
  ///   - count: How many elements; `nil` reads as many as fit.
  ///   - byteOffset: Where to start.
  /// - Returns: The elements.
  public func read<Element: BitwiseCopyable>(
    _ type: Element.Type, count: Int? = nil, byteOffset: Int = 0
  ) -> [Element] {
    let available = max(0, (length - byteOffset) / MemoryLayout<Element>.stride)
    let n = min(count ?? available, available)
    return [Element](unsafeUninitializedCapacity: n) { buffer, initialized in
      UnsafeMutableRawBufferPointer(buffer).copyMemory(
        from: UnsafeRawBufferPointer(start: contents + byteOffset, count: n * MemoryLayout<Element>.stride))
      initialized = n
    }
  }

  /// The usable bytes as an array (a copy).
  public var bytes: [UInt8] { read(UInt8.self) }

  deinit { munmap(region, regionLength) }
}
