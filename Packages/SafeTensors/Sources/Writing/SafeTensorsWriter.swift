public import Foundation
public import QuantCore

/// The order of tensors in a written file.
public enum SafeTensorsOrder: Sendable {
  /// The order Python's `safetensors.save_file` uses: widest dtype first (in the reference
  /// implementation's dtype order), then by name. Files written this way match Python's byte for byte.
  case reference
  /// The order tensors were added.
  case insertion
}

/// Writes a safetensors file one tensor at a time, never holding more than one tensor's bytes.
///
/// Tensors are streamed into a scratch file next to the destination as they are added. ``finish()``
/// writes the header (compact JSON padded with spaces to a multiple of 8 bytes, as the reference
/// implementation does), copies the tensors in the chosen order into a temporary file, flushes it and
/// renames it over the destination, so the destination is either absent or complete.
///
/// ```swift
/// let writer = try SafeTensorsWriter(url: output, metadata: ["format": "pt"])
/// for (name, tensor) in tensors { try writer.add(tensor, named: name) }
/// try writer.finish()
/// ```
public final class SafeTensorsWriter {
  /// The destination.
  public let url: URL
  /// The metadata written into the header.
  public let metadata: SafeTensorsMetadata
  /// The order of tensors in the file.
  public let order: SafeTensorsOrder
  private let scratchPath: String
  private var scratch: Int32
  private var entries: [SafeTensorsEntry] = []
  /// Where each tensor's bytes are until ``finish()``: the scratch file, or another safetensors file.
  private var origins: [String: Origin] = [:]
  private var scratchEnd = 0

  private enum Origin {
    case scratch(offset: Int)
    /// Bytes at `offset` of `file` (kept tensors are copied once, into the finished file).
    case file(SafeTensorsFile, offset: Int)
  }
  private var names = Set<String>()
  private var finished = false

  /// Starts a file.
  ///
  /// - Parameters:
  ///   - url: The destination; its folder must exist. An existing file is replaced on ``finish()``.
  ///   - metadata: `__metadata__` pairs (omitted from the header when empty).
  ///   - order: Where tensors go in the file.
  /// - Throws: `SafeTensorsError.io` when the scratch file cannot be created.
  public init(url: URL, metadata: SafeTensorsMetadata = ["format": "pt"], order: SafeTensorsOrder = .reference)
    throws(SafeTensorsError)
  {
    self.url = url
    self.metadata = metadata
    self.order = order
    scratchPath = SafeTensorsWriter.siblingPath(of: url, suffix: "data")
    scratch = try Platform.createReadWriteExclusive(scratchPath)
    // The scratch file is only reachable through the descriptor from now on.
    Platform.remove(scratchPath)
  }

  deinit { discard() }

  /// The number of data bytes added so far.
  public var dataByteCount: Int { entries.last?.end ?? 0 }
  /// The number of tensors added so far.
  public var tensorCount: Int { entries.count }

  /// Appends a tensor's bytes to the scratch file.
  ///
  /// - Parameters:
  ///   - tensor: The tensor.
  ///   - name: Its name; unique within the file, and not `__metadata__`.
  /// - Throws: `SafeTensorsError.duplicateTensor`, `.invalidUse` after ``finish()``, or `.io`.
  public func add(_ tensor: Tensor, named name: String) throws(SafeTensorsError) {
    try checkName(name)
    let start = dataByteCount
    try tensor.withUnsafeBytes { (bytes) throws(SafeTensorsError) in
      try Platform.writeAll(scratch, bytes, path: url.path)
    }
    origins[name] = .scratch(offset: scratchEnd)
    scratchEnd += tensor.byteCount
    entries.append(
      SafeTensorsEntry(name: name, dtype: tensor.dtype, shape: tensor.shape, start: start, end: start + tensor.byteCount))
  }

  /// Adds a tensor of another safetensors file. Its bytes are copied when the file is finished, straight
  /// from `file` (in the kernel with `copy_file_range` where the system has it, else through a buffer),
  /// never through `file`'s memory mapping, so copying a multi-gigabyte embedding does not grow the
  /// resident set. `file` must not change until then.
  ///
  /// - Parameters:
  ///   - source: The tensor's name in `file`.
  ///   - file: The file holding it.
  ///   - name: Its name in this file.
  /// - Throws: `SafeTensorsError.tensorNotFound`, `.duplicateTensor`, or `.invalidUse` after ``finish()``.
  public func addCopy(of source: String, in file: SafeTensorsFile, named name: String) throws(SafeTensorsError) {
    guard let entry = file.entry(named: source) else { throw .tensorNotFound(file: file.url.path, tensor: source) }
    try checkName(name)
    let start = dataByteCount
    origins[name] = .file(file, offset: file.header.dataStart + entry.start)
    entries.append(
      SafeTensorsEntry(name: name, dtype: entry.dtype, shape: entry.shape, start: start, end: start + entry.byteCount))
  }

  private func checkName(_ name: String) throws(SafeTensorsError) {
    guard !finished else { throw .invalidUse(file: url.path, reason: "tensor '\(name)' added after the file was finished") }
    guard name != "__metadata__" else { throw .invalidUse(file: url.path, reason: "'__metadata__' is not a valid tensor name") }
    guard names.insert(name).inserted else { throw .duplicateTensor(file: url.path, tensor: name) }
  }

  /// Writes the header and the tensors into a temporary file, flushes it and renames it into place.
  ///
  /// - Returns: The header as written.
  /// - Throws: `SafeTensorsError.io` on failure (the destination is then left untouched).
  @discardableResult
  public func finish() throws(SafeTensorsError) -> SafeTensorsHeader {
    guard !finished else { throw .invalidUse(file: url.path, reason: "the file was already finished") }
    finished = true
    defer { discard() }
    let placed = SafeTensorsWriter.place(entries, order: order)
    let headerBytes = SafeTensorsWriter.encodeHeader(placed, metadata: metadata)
    let source = scratch
    let path = url.path
    let origins = self.origins
    try SafeTensorsWriter.writeFile(at: url, header: headerBytes) { (fd) throws(SafeTensorsError) in
      let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 22, alignment: 64)
      defer { buffer.deallocate() }
      var inputs: [String: Int32] = [:]
      defer { for input in inputs.values { Platform.close(input) } }
      for entry in placed {
        switch origins[entry.name] {
        case .scratch(let offset):
          try RangeCopy.append(
            from: source, offset: offset, to: fd, count: entry.byteCount, buffer: buffer, sourcePath: path, path: path)
        case .file(let file, let offset):
          let input: Int32
          if let open = inputs[file.url.path] {
            input = open
          } else {
            input = try Platform.openForReading(file.url.path)
            inputs[file.url.path] = input
          }
          try RangeCopy.append(
            from: input, offset: offset, to: fd, count: entry.byteCount, buffer: buffer, sourcePath: file.url.path,
            path: path)
        case nil: continue
        }
      }
    }
    return SafeTensorsHeader(entries: placed, metadata: metadata, length: headerBytes.count - 8)
  }

  /// Abandons the file: closes and removes the scratch data. The destination is not touched.
  public func discard() {
    guard scratch >= 0 else { return }
    Platform.close(scratch)
    scratch = -1
    finished = true
  }

  /// Writes tensors that are all at hand (for example memory-mapped) straight into a file.
  ///
  /// - Parameters:
  ///   - tensors: The tensors; names must be unique.
  ///   - metadata: `__metadata__` pairs.
  ///   - order: Where tensors go in the file.
  ///   - url: The destination (replaced atomically).
  /// - Returns: The header as written.
  /// - Throws: `SafeTensorsError` for duplicate names or I/O failures.
  @discardableResult
  public static func write(
    _ tensors: [NamedTensor], metadata: SafeTensorsMetadata = ["format": "pt"], order: SafeTensorsOrder = .reference,
    to url: URL
  ) throws(SafeTensorsError) -> SafeTensorsHeader {
    var entries: [SafeTensorsEntry] = []
    var byName: [String: Tensor] = [:]
    var end = 0
    for named in tensors {
      guard byName.updateValue(named.tensor, forKey: named.name) == nil else {
        throw .duplicateTensor(file: url.path, tensor: named.name)
      }
      entries.append(
        SafeTensorsEntry(
          name: named.name, dtype: named.tensor.dtype, shape: named.tensor.shape, start: end, end: end + named.tensor.byteCount))
      end += named.tensor.byteCount
    }
    let placed = place(entries, order: order)
    let headerBytes = encodeHeader(placed, metadata: metadata)
    try writeFile(at: url, header: headerBytes) { (fd) throws(SafeTensorsError) in
      for entry in placed {
        guard let tensor = byName[entry.name] else { continue }
        try tensor.withUnsafeBytes { (bytes) throws(SafeTensorsError) in try Platform.writeAll(fd, bytes, path: url.path) }
      }
    }
    return SafeTensorsHeader(entries: placed, metadata: metadata, length: headerBytes.count - 8)
  }

  // MARK: - Layout

  /// The reference implementation's dtype order (its `Dtype` enum); wider types sort later.
  static func referenceRank(_ dtype: DType) -> Int {
    switch dtype {
    case .bool: 0
    case .uint8: 4
    case .int8: 5
    case .float8E5M2: 6
    case .float8E4M3: 7
    case .int16: 9
    case .uint16: 10
    case .float16: 11
    case .bfloat16: 12
    case .int32: 13
    case .uint32: 14
    case .float32: 15
    case .float64: 16
    case .int64: 17
    case .uint64: 18
    }
  }

  /// Orders entries and assigns their offsets in the data region.
  static func place(_ entries: [SafeTensorsEntry], order: SafeTensorsOrder) -> [SafeTensorsEntry] {
    var ordered = entries
    if order == .reference {
      ordered.sort { lhs, rhs in
        let (left, right) = (referenceRank(lhs.dtype), referenceRank(rhs.dtype))
        if left != right { return left > right }
        return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
      }
    }
    var offset = 0
    for index in ordered.indices {
      let count = ordered[index].byteCount
      ordered[index].start = offset
      ordered[index].end = offset + count
      offset += count
    }
    return ordered
  }

  /// The 8-byte length, the compact JSON header, and spaces up to a multiple of 8.
  static func encodeHeader(_ entries: [SafeTensorsEntry], metadata: SafeTensorsMetadata) -> [UInt8] {
    var members: [JSONMember] = []
    if !metadata.isEmpty {
      members.append(
        JSONMember(key: "__metadata__", value: .object(metadata.pairs.map { JSONMember(key: $0.key, value: .string($0.value)) })))
    }
    for entry in entries {
      members.append(
        JSONMember(
          key: entry.name,
          value: .object([
            JSONMember(key: "dtype", value: .string(entry.dtype.safetensorsName)),
            JSONMember(key: "shape", value: .array(entry.shape.map { .number(JSONNumber($0)) })),
            JSONMember(key: "data_offsets", value: .array([.number(JSONNumber(entry.start)), .number(JSONNumber(entry.end))])),
          ])))
    }
    var json = Array(JSONValue.object(members).text(style: .compact).utf8)
    json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
    var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
    bytes.append(contentsOf: json)
    return bytes
  }

  // MARK: - Files

  /// A hidden, unique path in the same folder as `url` (so a rename stays on one file system).
  static func siblingPath(of url: URL, suffix: String) -> String {
    let folder = url.deletingLastPathComponent().path
    let random = UInt32.random(in: 0...UInt32.max)
    return folder + "/." + url.lastPathComponent + ".\(suffix)-\(Platform.processID)-\(String(random, radix: 16))"
  }

  /// Writes `header` then `body` into a temporary sibling of `url`, flushes it and renames it over `url`.
  static func writeFile(
    at url: URL, header: [UInt8], body: (Int32) throws(SafeTensorsError) -> Void
  ) throws(SafeTensorsError) {
    let temporary = siblingPath(of: url, suffix: "tmp")
    let fd = try Platform.createExclusive(temporary)
    do {
      try Platform.writeAll(fd, header, path: url.path)
      try body(fd)
      try Platform.sync(fd, path: url.path)
    } catch {
      Platform.close(fd)
      Platform.remove(temporary)
      throw error
    }
    Platform.close(fd)
    do {
      try Platform.rename(temporary, to: url.path)
    } catch {
      Platform.remove(temporary)
      throw error
    }
  }
}

extension SafeTensorsHeader {
  init(entries: [SafeTensorsEntry], metadata: SafeTensorsMetadata, length: Int) {
    self.entries = entries
    self.metadata = metadata
    self.length = length
  }
}
