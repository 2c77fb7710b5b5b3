public import LanguageModels
import ModelPatcher
import TextGeneration

/// The exit statuses of `bnb-generate` and `bnb-chat`, one per class of error (the `bnb-patch` numbers,
/// documented in `Docs/generation.md`).
public enum GenerateExitStatus: Int32, Sendable, CaseIterable {
  /// Everything worked.
  case success = 0
  /// An unexpected failure.
  case failure = 1
  /// The command line is wrong (unknown flag, missing or conflicting arguments).
  case usage = 64
  /// A quantization file, an option value or a generation setting is wrong.
  case configuration = 65
  /// The model folder, a tensor, the tokenizer or the prompt is unusable (names the file, tensor or key).
  case invalidInput = 66
  /// A feature that is not implemented (reserved; no command returns it today).
  case unsupported = 69
  /// Reading or writing a file failed (`--logits-out`).
  case io = 74
  /// Interrupted (Ctrl-C).
  case cancelled = 130

  /// The status for a model error: quantization problems are configuration errors, everything else names
  /// unusable input.
  ///
  /// - Parameter error: The error.
  public init(_ error: LanguageModelError) {
    switch error {
    case .quantization: self = .configuration
    case .computation: self = .failure
    default: self = .invalidInput
    }
  }
}

/// A failure of the generation commands with its exit status and message.
struct GenerateFailure: Error, CustomStringConvertible {
  var status: GenerateExitStatus
  var message: String

  var description: String { message }

  /// Wraps a model error.
  static func model(_ error: LanguageModelError) -> GenerateFailure {
    GenerateFailure(status: GenerateExitStatus(error), message: error.description)
  }

  /// Wraps a generation setting error.
  static func settings(_ error: GenerationParameterError) -> GenerateFailure {
    GenerateFailure(status: .configuration, message: error.description)
  }
}
