/// Errors from quantizing, dequantizing and computing with tensors.
///
/// Every case carries enough context (the operation, expected and found values) to print a message a
/// user can act on without a debugger.
public enum QuantError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A shape is negative, overflows, or is unusable for the operation.
  case invalidShape([Int], reason: String)
  /// Two shapes that must agree do not.
  case shapeMismatch(context: String, expected: [Int], found: [Int])
  /// A byte count does not match dtype × shape.
  case byteCountMismatch(context: String, expected: Int, found: Int)
  /// The dtype is not accepted by the operation.
  case unsupportedDType(DType, operation: String, supported: [DType])
  /// The blocksize is not one of the supported values.
  case unsupportedBlocksize(Int, supported: [Int])
  /// The tensor has no elements and the operation needs at least one.
  case emptyTensor(context: String)
  /// Quantization state is inconsistent (missing, truncated or contradictory fields).
  case invalidState(String)
  /// An argument is out of range or otherwise invalid.
  case invalidArgument(String)
  /// A backend cannot run this storage layout or operation.
  case unsupportedOperation(backend: String, operation: String)

  /// A one-line, human-readable message.
  public var description: String {
    switch self {
    case .invalidShape(let shape, let reason): "invalid shape \(shape): \(reason)"
    case .shapeMismatch(let context, let expected, let found): "\(context): expected shape \(expected), found \(found)"
    case .byteCountMismatch(let context, let expected, let found):
      "\(context): expected \(expected) bytes, found \(found)"
    case .unsupportedDType(let dtype, let operation, let supported):
      "\(operation) does not support dtype \(dtype); supported: \(supported.map(\.rawValue).joined(separator: ", "))"
    case .unsupportedBlocksize(let blocksize, let supported):
      "unsupported blocksize \(blocksize); supported: \(supported.map(String.init).joined(separator: ", "))"
    case .emptyTensor(let context): "\(context): the tensor is empty"
    case .invalidState(let message): "invalid quantization state: \(message)"
    case .invalidArgument(let message): "invalid argument: \(message)"
    case .unsupportedOperation(let backend, let operation): "backend '\(backend)' does not support \(operation)"
    }
  }
}
