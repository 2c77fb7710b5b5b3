import Foundation
import QuantCore
import TestSupport
import Testing

@testable import SafeTensors

/// Corrupt, truncated and lying headers, each rejected with the error the reference implementation
/// would raise, naming the file and the tensor.
@Suite("Header validation")
struct ValidationTests {
  static let file = "bad.safetensors"

  /// A file from header text and a data region of `dataSize` bytes.
  static func fileBytes(_ header: String, dataSize: Int, declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    var bytes = withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { Array($0) }
    bytes += json
    bytes += [UInt8](repeating: 0, count: dataSize)
    return bytes
  }

  static func parse(_ bytes: [UInt8]) throws(SafeTensorsError) -> SafeTensorsHeader {
    let result: Result<SafeTensorsHeader, SafeTensorsError> = bytes.withUnsafeBytes { raw in
      do throws(SafeTensorsError) {
        return .success(try SafeTensorsHeader(fileBytes: raw, file: file))
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  static func entry(_ name: String, _ dtype: String, _ shape: [Int], _ start: Int, _ end: Int) -> String {
    "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(start),\(end)]}"
  }

  struct Case: Sendable, CustomTestStringConvertible {
    var label: String
    var bytes: [UInt8]
    var error: SafeTensorsError
    var testDescription: String { label }
  }

  static let cases: [Case] = [
    Case(label: "shorter than 8 bytes", bytes: [1, 2, 3], error: .fileTooSmall(file: file, size: 3)),
    Case(
      label: "header over 100 MB", bytes: fileBytes("{}", dataSize: 0, declaredLength: 100_000_001),
      error: .headerTooLarge(file: file, length: 100_000_001, limit: 100_000_000)),
    Case(
      label: "header past end of file", bytes: fileBytes("{}", dataSize: 0, declaredLength: 64),
      error: .headerExceedsFile(file: file, length: 64, fileSize: 10)),
    Case(
      label: "invalid UTF-8", bytes: Array(fileBytes("{\"a\":1}", dataSize: 0).dropLast(2)) + [0xFF, 0x7D],
      error: .invalidHeader(file: file, reason: "the header is not valid UTF-8")),
    Case(
      label: "not starting with a brace", bytes: fileBytes(" {}", dataSize: 0),
      error: .invalidHeader(file: file, reason: "the header must start with '{'")),
    Case(
      label: "malformed JSON", bytes: fileBytes("{\"a\":}", dataSize: 0),
      error: .invalidHeader(file: file, reason: "malformed JSON: unexpected character '}' at byte 5")),
    Case(
      label: "trailing comma", bytes: fileBytes("{\"a\":{},}", dataSize: 0),
      error: .invalidHeader(file: file, reason: "malformed JSON: expected a member name at byte 8")),
    Case(
      label: "metadata not strings", bytes: fileBytes("{\"__metadata__\":{\"n\":1}}", dataSize: 0),
      error: .invalidHeader(file: file, reason: "__metadata__ value of 'n' must be a string, found a number")),
    Case(
      label: "entry not an object", bytes: fileBytes("{\"w\":[]}", dataSize: 0),
      error: .invalidTensorEntry(file: file, tensor: "w", reason: "the entry must be an object, found an array")),
    Case(
      label: "missing dtype", bytes: fileBytes("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", dataSize: 4),
      error: .invalidTensorEntry(file: file, tensor: "w", reason: "missing 'dtype'")),
    Case(
      label: "missing shape", bytes: fileBytes("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", dataSize: 4),
      error: .invalidTensorEntry(file: file, tensor: "w", reason: "missing 'shape'")),
    Case(
      label: "missing offsets", bytes: fileBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", dataSize: 4),
      error: .invalidTensorEntry(file: file, tensor: "w", reason: "missing 'data_offsets'")),
    Case(
      label: "negative dimension", bytes: fileBytes("{" + entry("w", "F32", [-1], 0, 4) + "}", dataSize: 4),
      error: .invalidTensorEntry(file: file, tensor: "w", reason: "'shape' must hold non-negative integers")),
    Case(
      label: "unknown dtype", bytes: fileBytes("{" + entry("w", "C64", [1], 0, 8) + "}", dataSize: 8),
      error: .unsupportedDType(file: file, tensor: "w", dtype: "C64")),
    Case(
      label: "dtype × shape lies", bytes: fileBytes("{" + entry("w", "F32", [2, 2], 0, 12) + "}", dataSize: 12),
      error: .byteLengthMismatch(file: file, tensor: "w", expected: 16, found: 12)),
    Case(
      label: "shape overflows",
      bytes: fileBytes("{" + entry("w", "F32", [Int.max / 2, 4], 0, 4) + "}", dataSize: 4),
      error: .sizeOverflow(file: file, tensor: "w")),
    Case(
      label: "offset beyond Int",
      bytes: fileBytes(
        "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[18446744073709551615,18446744073709551615]}}", dataSize: 0),
      error: .sizeOverflow(file: file, tensor: "w")),
    Case(
      label: "end before begin", bytes: fileBytes("{" + entry("w", "U8", [0], 4, 0) + "}", dataSize: 4),
      error: .invalidOffsets(file: file, tensor: "w", reason: "end 0 is before begin 4")),
    Case(
      label: "gap", bytes: fileBytes("{" + entry("a", "U8", [2], 0, 2) + "," + entry("b", "U8", [2], 4, 6) + "}", dataSize: 6),
      error: .invalidOffsets(file: file, tensor: "b", reason: "gap: starts at 4, but the previous tensor ends at 2")),
    Case(
      label: "overlap",
      bytes: fileBytes("{" + entry("a", "U8", [4], 0, 4) + "," + entry("b", "U8", [2], 2, 4) + "}", dataSize: 4),
      error: .invalidOffsets(file: file, tensor: "b", reason: "overlap: starts at 2, before the previous tensor ends at 4")),
    Case(
      label: "trailing bytes", bytes: fileBytes("{" + entry("a", "U8", [2], 0, 2) + "}", dataSize: 3),
      error: .dataSizeMismatch(file: file, dataEnd: 2, dataSize: 3)),
    Case(
      label: "truncated data", bytes: fileBytes("{" + entry("a", "F32", [2], 0, 8) + "}", dataSize: 7),
      error: .dataSizeMismatch(file: file, dataEnd: 8, dataSize: 7)),
    Case(
      label: "duplicate name",
      bytes: fileBytes("{" + entry("a", "U8", [1], 0, 1) + "," + entry("a", "U8", [1], 1, 2) + "}", dataSize: 2),
      error: .duplicateTensor(file: file, tensor: "a")),
  ]

  @Test(arguments: cases)
  func rejected(_ testCase: Case) {
    #expect(throws: testCase.error) { try ValidationTests.parse(testCase.bytes) }
  }

  @Test func acceptsReorderedEntriesAndPadding() throws {
    let header = "{" + ValidationTests.entry("b", "U8", [2], 2, 4) + "," + ValidationTests.entry("a", "U8", [2], 0, 2) + "}   "
    let parsed = try ValidationTests.parse(ValidationTests.fileBytes(header, dataSize: 4))
    #expect(parsed.entries.map(\.name) == ["a", "b"])
  }

  @Test func truncatedFileOnDiskNamesTheFile() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let original = try Data(contentsOf: TestFiles.fixture("safetensors/all_dtypes.safetensors"))
    let truncated = folder.appending(path: "truncated.safetensors")
    try original.dropLast(5).write(to: truncated)
    #expect(throws: SafeTensorsError.dataSizeMismatch(file: truncated.path, dataEnd: 212, dataSize: 207)) {
      try SafeTensorsFile(contentsOf: truncated)
    }
    let missing = folder.appending(path: "missing.safetensors")
    #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: missing) }
    do {
      _ = try SafeTensorsFile(contentsOf: missing)
    } catch {
      #expect(error.isIOFailure && error.description.contains("missing.safetensors"))
    }
  }

  @Test func indexDisagreeingWithShards() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let shard = TestFiles.fixture("safetensors/sharded/model-00001-of-00003.safetensors")
    try FileManager.default.copyItem(at: shard, to: folder.appending(path: "model-00001-of-00001.safetensors"))
    let index = SafeTensorsIndex(weightMap: ["lm_head.weight": "model-00001-of-00001.safetensors"], totalSize: 1)
    try index.fileContents.write(
      to: folder.appending(path: SafeTensorsCheckpoint.indexFileName), atomically: true, encoding: .utf8)
    let indexPath = folder.appending(path: SafeTensorsCheckpoint.indexFileName).path
    #expect(
      throws: SafeTensorsError.invalidIndex(
        file: indexPath,
        reason: "tensor 'lm_head.weight' is mapped to model-00001-of-00001.safetensors, which does not contain it")
    ) { try SafeTensorsCheckpoint(contentsOf: folder) }
  }
}
