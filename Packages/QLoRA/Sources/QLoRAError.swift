/// Why a QLoRA operation failed: the tensor, key or file involved, and what was expected.
public enum QLoRAError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Buffer sizes that do not agree with the stated dimensions.
  case shapeMismatch(context: String, expected: Int, found: Int)
  /// An invalid LoRA or optimizer setting (`rank 0`, a negative dropout, …).
  case invalidSetting(name: String, reason: String)
  /// A target module that matches no linear layer of the model.
  case unknownTargetModule(String)
  /// A frozen weight could not be decoded.
  case quantized(name: String, reason: String)
  /// An adapter file is missing a tensor or holds one of the wrong shape or dtype.
  case adapterTensor(file: String, tensor: String, reason: String)
  /// An adapter configuration file is unreadable or inconsistent.
  case adapterConfiguration(file: String, reason: String)
  /// The loss became NaN or infinite at an optimizer step (nothing was updated).
  case nonFiniteLoss(step: Int)
  /// Reading or writing a file failed.
  case io(file: String, reason: String)

  /// A one-line message naming what went wrong.
  public var description: String {
    switch self {
    case .shapeMismatch(let context, let expected, let found):
      "\(context): expected \(expected) values, found \(found)"
    case .invalidSetting(let name, let reason): "invalid \(name): \(reason)"
    case .unknownTargetModule(let name): "target module '\(name)' matches no linear layer of the model"
    case .quantized(let name, let reason): "frozen weight \(name): \(reason)"
    case .adapterTensor(let file, let tensor, let reason): "\(file): tensor \(tensor): \(reason)"
    case .adapterConfiguration(let file, let reason): "\(file): \(reason)"
    case .nonFiniteLoss(let step): "the loss is not finite at step \(step); stopping (the last good checkpoint is kept)"
    case .io(let file, let reason): "\(file): \(reason)"
    }
  }
}
