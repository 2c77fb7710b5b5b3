public import Foundation

/// Why a tokenizer could not be loaded.
///
/// Every case names the file it concerns and, where there is one, the JSON key path (`model.merges[3]`).
public enum TokenizerError: Error, Equatable, Sendable, LocalizedError, CustomStringConvertible {
  /// The file does not exist or cannot be read.
  case unreadable(file: String, reason: String)
  /// The file is not valid JSON (malformed or truncated).
  case malformedJSON(file: String, reason: String)
  /// A key is missing or has the wrong type.
  case invalidValue(file: String, key: String, expected: String)
  /// A component type (`model`, `normalizer`, `pre_tokenizer`, `post_processor`, `decoder`) is not supported.
  case unsupported(file: String, component: String, type: String)
  /// A regular expression in the file cannot be compiled.
  case invalidPattern(file: String, key: String, pattern: String, reason: String)
  /// A merge or special token refers to a token that is not in the vocabulary.
  case unknownToken(file: String, key: String, token: String)

  /// A one-line explanation that names the file.
  public var description: String {
    switch self {
    case .unreadable(let file, let reason): "\(file): cannot read: \(reason)"
    case .malformedJSON(let file, let reason): "\(file): not valid JSON: \(reason)"
    case .invalidValue(let file, let key, let expected): "\(file): `\(key)`: expected \(expected)"
    case .unsupported(let file, let component, let type):
      "\(file): \(component) type `\(type)` is not supported (see Docs/tokenizers.md)"
    case .invalidPattern(let file, let key, let pattern, let reason):
      "\(file): `\(key)`: cannot compile pattern \(pattern.debugDescription): \(reason)"
    case .unknownToken(let file, let key, let token):
      "\(file): `\(key)`: token \(token.debugDescription) is not in the vocabulary"
    }
  }

  /// The same text as ``description``.
  public var errorDescription: String? { description }
}
