/// Everything that can stop loading or running a language model, each naming the file, tensor or key
/// at fault.
public enum LanguageModelError: Error, Sendable, Equatable, CustomStringConvertible {
  /// `config.json` names an architecture this module does not implement.
  case unsupportedArchitecture(file: String, found: String, supported: [String])
  /// A `config.json` key is missing, of the wrong kind or out of range.
  case invalidConfiguration(file: String, key: String, reason: String)
  /// A tensor the architecture needs is not in the checkpoint.
  case missingTensor(file: String, tensor: String)
  /// A tensor's shape disagrees with `config.json`.
  case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
  /// A tensor cannot be used as stored (wrong dtype, quantized where it must be plain, …).
  case unsupportedTensor(file: String, tensor: String, reason: String)
  /// The checkpoint cannot be read (corrupted or truncated file, inconsistent quantized tensors).
  case checkpoint(file: String, reason: String)
  /// The requested quantization cannot be applied (already quantized model, unknown format, …).
  case quantization(file: String, reason: String)
  /// The prompt and cache together exceed `max_position_embeddings`.
  case sequenceTooLong(positions: Int, maximum: Int)
  /// A token id outside `0..<vocab_size`.
  case invalidToken(Int, vocabularySize: Int)
  /// An empty token list where at least one token is needed.
  case emptyInput
  /// A kernel failed while running the model (the layer and the kernel's message).
  case computation(layer: String, reason: String)

  /// A one-line explanation naming what is at fault.
  public var description: String {
    switch self {
    case .unsupportedArchitecture(let file, let found, let supported):
      "\(file): architecture '\(found)' is not supported (supported: \(supported.joined(separator: ", ")))"
    case .invalidConfiguration(let file, let key, let reason): "\(file): key '\(key)': \(reason)"
    case .missingTensor(let file, let tensor): "\(file): tensor '\(tensor)' is missing"
    case .shapeMismatch(let file, let tensor, let expected, let found):
      "\(file): tensor '\(tensor)' has shape \(found), config.json implies \(expected)"
    case .unsupportedTensor(let file, let tensor, let reason): "\(file): tensor '\(tensor)': \(reason)"
    case .checkpoint(let file, let reason): "\(file): \(reason)"
    case .quantization(let file, let reason): "\(file): cannot quantize at load: \(reason)"
    case .sequenceTooLong(let positions, let maximum):
      "\(positions) positions exceed max_position_embeddings (\(maximum))"
    case .invalidToken(let token, let vocabularySize): "token id \(token) is outside 0..<\(vocabularySize)"
    case .emptyInput: "no tokens given"
    case .computation(let layer, let reason): "\(layer): \(reason)"
    }
  }
}
