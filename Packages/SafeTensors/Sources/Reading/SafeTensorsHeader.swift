public import QuantCore

/// One tensor entry of a safetensors header.
public struct SafeTensorsEntry: Sendable, Equatable {
  /// The tensor name.
  public var name: String
  /// The element type.
  public var dtype: DType
  /// The dimensions (empty for a scalar).
  public var shape: [Int]
  /// Where the bytes start, relative to the start of the data region.
  public var start: Int
  /// Where the bytes end (exclusive), relative to the start of the data region.
  public var end: Int

  /// The number of bytes.
  public var byteCount: Int { end - start }
  /// The number of elements.
  public var elementCount: Int { shape.reduce(1, *) }

  /// Creates an entry.
  ///
  /// - Parameters:
  ///   - name: The tensor name.
  ///   - dtype: The element type.
  ///   - shape: The dimensions.
  ///   - start: The first byte, relative to the data region.
  ///   - end: One past the last byte.
  public init(name: String, dtype: DType, shape: [Int], start: Int, end: Int) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.start = start
    self.end = end
  }
}

/// The `__metadata__` of a safetensors header: string keys to string values, in file order.
public struct SafeTensorsMetadata: Sendable, Equatable, ExpressibleByDictionaryLiteral {
  /// The pairs in order.
  public var pairs: [(key: String, value: String)]

  /// Creates metadata from pairs (written in this order).
  ///
  /// - Parameter pairs: Key/value pairs.
  public init(_ pairs: [(key: String, value: String)] = []) { self.pairs = pairs }

  /// Creates metadata from a literal, in literal order.
  public init(dictionaryLiteral elements: (String, String)...) {
    pairs = elements.map { (key: $0.0, value: $0.1) }
  }

  /// The value for `key`, or `nil`. Setting replaces an existing value in place or appends.
  public subscript(key: String) -> String? {
    get { pairs.first { $0.key == key }?.value }
    set {
      if let index = pairs.firstIndex(where: { $0.key == key }) {
        if let newValue { pairs[index].value = newValue } else { pairs.remove(at: index) }
      } else if let newValue {
        pairs.append((key, newValue))
      }
    }
  }

  /// Whether there are no pairs.
  public var isEmpty: Bool { pairs.isEmpty }

  /// Pairwise equality in order.
  public static func == (lhs: SafeTensorsMetadata, rhs: SafeTensorsMetadata) -> Bool {
    lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
  }
}

/// A parsed and validated safetensors header.
///
/// Validation follows the reference implementation (huggingface/safetensors `SafeTensors::read_metadata`
/// and `Metadata::validate`): an 8-byte little-endian header length of at most 100 MB that fits the
/// file, a UTF-8 JSON object starting with `{`, an optional `__metadata__` string map, entries with
/// `dtype`, `shape` and `data_offsets`, offsets that — sorted — tile the data region with no gap
/// or overlap and end exactly at the end of the file, and dtype × shape equal to each entry's byte
/// length, with every product checked for overflow.
public struct SafeTensorsHeader: Sendable, Equatable {
  /// The largest header the reference implementation accepts (100 MB).
  public static let maximumLength = 100_000_000

  /// The entries, in data order (sorted by offsets).
  public var entries: [SafeTensorsEntry]
  /// `__metadata__`, empty when absent.
  public var metadata: SafeTensorsMetadata
  /// The header length from the first 8 bytes (JSON plus padding).
  public var length: Int
  /// Where the data region starts in the file (`8 + length`).
  public var dataStart: Int { 8 + length }

  /// Parses and validates the header of a whole file held in memory.
  ///
  /// - Parameters:
  ///   - bytes: The whole file (the data region is only measured, not read).
  ///   - file: The name used in errors.
  /// - Throws: `SafeTensorsError` describing the first problem.
  public init(fileBytes bytes: UnsafeRawBufferPointer, file: String) throws(SafeTensorsError) {
    guard bytes.count >= 8 else { throw .fileTooSmall(file: file, size: bytes.count) }
    let declared = bytes.loadUnaligned(as: UInt64.self).littleEndian
    guard declared <= UInt64(SafeTensorsHeader.maximumLength) else {
      throw .headerTooLarge(file: file, length: declared, limit: SafeTensorsHeader.maximumLength)
    }
    let length = Int(declared)
    guard 8 + length <= bytes.count else { throw .headerExceedsFile(file: file, length: declared, fileSize: bytes.count) }
    let text = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + length)])
    guard String(validating: text, as: UTF8.self) != nil else {
      throw .invalidHeader(file: file, reason: "the header is not valid UTF-8")
    }
    guard text.first == UInt8(ascii: "{") else {
      throw .invalidHeader(file: file, reason: "the header must start with '{'")
    }
    let json: JSONValue
    do {
      json = try JSONParser.parse(text)
    } catch {
      throw .invalidHeader(file: file, reason: "malformed JSON: \(error)")
    }
    try self.init(json: json, length: length, dataSize: bytes.count - 8 - length, file: file)
  }

  init(json: JSONValue, length: Int, dataSize: Int, file: String) throws(SafeTensorsError) {
    guard let members = json.members else { throw .invalidHeader(file: file, reason: "the header is not a JSON object") }
    var metadata = SafeTensorsMetadata()
    var entries: [SafeTensorsEntry] = []
    entries.reserveCapacity(members.count)
    var seen = Set<String>()
    for member in members {
      guard seen.insert(member.key).inserted else { throw .duplicateTensor(file: file, tensor: member.key) }
      if member.key == "__metadata__" {
        guard let pairs = member.value.members else {
          throw .invalidHeader(file: file, reason: "__metadata__ must be an object of strings, found \(member.value.kindName)")
        }
        for pair in pairs {
          guard let value = pair.value.stringValue else {
            throw .invalidHeader(
              file: file, reason: "__metadata__ value of '\(pair.key)' must be a string, found \(pair.value.kindName)")
          }
          metadata.pairs.append((pair.key, value))
        }
        continue
      }
      entries.append(try SafeTensorsHeader.entry(member, file: file))
    }
    // The reference sorts by offsets, then requires each tensor to start where the previous ended.
    entries.sort { ($0.start, $0.end) < ($1.start, $1.end) }
    var end = 0
    for entry in entries {
      guard entry.start == end else {
        throw .invalidOffsets(
          file: file, tensor: entry.name,
          reason: entry.start > end
            ? "gap: starts at \(entry.start), but the previous tensor ends at \(end)"
            : "overlap: starts at \(entry.start), before the previous tensor ends at \(end)")
      }
      end = entry.end
    }
    guard end == dataSize else { throw .dataSizeMismatch(file: file, dataEnd: end, dataSize: dataSize) }
    self.entries = entries
    self.metadata = metadata
    self.length = length
  }

  private static func entry(_ member: JSONMember, file: String) throws(SafeTensorsError) -> SafeTensorsEntry {
    let name = member.key
    guard member.value.members != nil else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "the entry must be an object, found \(member.value.kindName)")
    }
    guard let dtypeValue = member.value["dtype"] else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "missing 'dtype'")
    }
    guard let dtypeName = dtypeValue.stringValue else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "'dtype' must be a string, found \(dtypeValue.kindName)")
    }
    guard let dtype = DType(safetensorsName: dtypeName) else {
      throw .unsupportedDType(file: file, tensor: name, dtype: dtypeName)
    }
    guard let shapeValue = member.value["shape"] else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "missing 'shape'")
    }
    guard let dimensions = shapeValue.elements else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "'shape' must be an array, found \(shapeValue.kindName)")
    }
    var shape: [Int] = []
    var elements = 1
    for dimension in dimensions {
      guard let value = dimension.numberValue?.uint64Value else {
        throw .invalidTensorEntry(file: file, tensor: name, reason: "'shape' must hold non-negative integers")
      }
      guard value <= UInt64(Int.max) else { throw .sizeOverflow(file: file, tensor: name) }
      let (product, overflow) = elements.multipliedReportingOverflow(by: Int(value))
      guard !overflow else { throw .sizeOverflow(file: file, tensor: name) }
      elements = product
      shape.append(Int(value))
    }
    let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow else { throw .sizeOverflow(file: file, tensor: name) }
    guard let offsetsValue = member.value["data_offsets"] else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "missing 'data_offsets'")
    }
    guard let offsets = offsetsValue.elements, offsets.count == 2,
      let start = offsets[0].numberValue?.uint64Value, let end = offsets[1].numberValue?.uint64Value
    else {
      throw .invalidTensorEntry(file: file, tensor: name, reason: "'data_offsets' must be two non-negative integers [begin, end]")
    }
    guard start <= UInt64(Int.max), end <= UInt64(Int.max) else { throw .sizeOverflow(file: file, tensor: name) }
    guard end >= start else {
      throw .invalidOffsets(file: file, tensor: name, reason: "end \(end) is before begin \(start)")
    }
    guard Int(end - start) == expected else {
      throw .byteLengthMismatch(file: file, tensor: name, expected: expected, found: Int(end - start))
    }
    return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, start: Int(start), end: Int(end))
  }
}
