import QuantCore

/// What can go wrong reading or writing safetensors files and sharded checkpoints.
///
/// Every case names the file, and the tensor where one is involved, so a message can be acted on
/// without a debugger. The cases follow the reference implementation's validation (huggingface/safetensors).
public enum SafeTensorsError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file cannot be opened, read, mapped, written or renamed.
  case io(file: String, operation: String, reason: String)
  /// The file is shorter than the 8-byte header length.
  case fileTooSmall(file: String, size: Int)
  /// The declared header length exceeds the 100 MB cap.
  case headerTooLarge(file: String, length: UInt64, limit: Int)
  /// The declared header length runs past the end of the file.
  case headerExceedsFile(file: String, length: UInt64, fileSize: Int)
  /// The header is not valid UTF-8, not a JSON object, or its metadata is not a string → string map.
  case invalidHeader(file: String, reason: String)
  /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one of them has the wrong type.
  case invalidTensorEntry(file: String, tensor: String, reason: String)
  /// The entry's dtype is not one this library knows.
  case unsupportedDType(file: String, tensor: String, dtype: String)
  /// The entry's offsets leave a gap, overlap another tensor, or run backwards.
  case invalidOffsets(file: String, tensor: String, reason: String)
  /// dtype × shape does not equal the entry's byte length.
  case byteLengthMismatch(file: String, tensor: String, expected: Int, found: Int)
  /// Computing the entry's size overflows.
  case sizeOverflow(file: String, tensor: String)
  /// The tensors' data does not end exactly at the end of the file.
  case dataSizeMismatch(file: String, dataEnd: Int, dataSize: Int)
  /// Two entries (or two tensors being written) share a name.
  case duplicateTensor(file: String, tensor: String)
  /// No tensor has this name.
  case tensorNotFound(file: String, tensor: String)
  /// A sharded checkpoint's index is malformed or disagrees with its shards.
  case invalidIndex(file: String, reason: String)
  /// A writer was used incorrectly (for example after it finished).
  case invalidUse(file: String, reason: String)

  /// The file the error is about.
  public var file: String {
    switch self {
    case .io(let file, _, _), .fileTooSmall(let file, _), .headerTooLarge(let file, _, _),
      .headerExceedsFile(let file, _, _), .invalidHeader(let file, _), .invalidTensorEntry(let file, _, _),
      .unsupportedDType(let file, _, _), .invalidOffsets(let file, _, _), .byteLengthMismatch(let file, _, _, _),
      .sizeOverflow(let file, _), .dataSizeMismatch(let file, _, _), .duplicateTensor(let file, _),
      .tensorNotFound(let file, _), .invalidIndex(let file, _), .invalidUse(let file, _):
      file
    }
  }

  /// Whether the error is an operating-system failure (rather than bad content).
  public var isIOFailure: Bool { if case .io = self { true } else { false } }

  /// A one-line message naming the file and, where relevant, the tensor.
  public var description: String {
    switch self {
    case .io(let file, let operation, let reason): "\(file): cannot \(operation): \(reason)"
    case .fileTooSmall(let file, let size):
      "\(file): not a safetensors file: \(size) bytes, shorter than the 8-byte header length"
    case .headerTooLarge(let file, let length, let limit):
      "\(file): header length \(length) exceeds the limit of \(limit) bytes"
    case .headerExceedsFile(let file, let length, let fileSize):
      "\(file): header length \(length) runs past the end of the file (\(fileSize) bytes); the file is truncated or not safetensors"
    case .invalidHeader(let file, let reason): "\(file): invalid header: \(reason)"
    case .invalidTensorEntry(let file, let tensor, let reason): "\(file): tensor '\(tensor)': \(reason)"
    case .unsupportedDType(let file, let tensor, let dtype):
      "\(file): tensor '\(tensor)': unsupported dtype '\(dtype)'; supported: "
        + DType.allCases.map(\.safetensorsName).joined(separator: ", ")
    case .invalidOffsets(let file, let tensor, let reason): "\(file): tensor '\(tensor)': invalid data_offsets: \(reason)"
    case .byteLengthMismatch(let file, let tensor, let expected, let found):
      "\(file): tensor '\(tensor)': dtype and shape need \(expected) bytes but data_offsets span \(found)"
    case .sizeOverflow(let file, let tensor): "\(file): tensor '\(tensor)': size overflows"
    case .dataSizeMismatch(let file, let dataEnd, let dataSize):
      "\(file): the tensors end at data byte \(dataEnd) but the data region holds \(dataSize) bytes"
        + (dataEnd < dataSize ? " (trailing bytes)" : " (the file is truncated)")
    case .duplicateTensor(let file, let tensor): "\(file): tensor '\(tensor)' appears more than once"
    case .tensorNotFound(let file, let tensor): "\(file): no tensor named '\(tensor)'"
    case .invalidIndex(let file, let reason): "\(file): invalid checkpoint index: \(reason)"
    case .invalidUse(let file, let reason): "\(file): \(reason)"
    }
  }
}
