/// Why a generation ended.
public enum StopReason: Sendable, Equatable, CustomStringConvertible {
  /// The model produced one of the end-of-sequence ids (the token is counted, its text is not shown).
  case endOfSequence(Int)
  /// The text contained this stop string (the text stops before it).
  case stopString(String)
  /// The maximum number of new tokens was generated.
  case maxTokens

  /// A short name for the reason, as `bnb-generate --json` writes it.
  public var description: String {
    switch self {
    case .endOfSequence(let token): "eos (\(token))"
    case .stopString(let text): "stop string \(text.debugDescription)"
    case .maxTokens: "max tokens"
    }
  }
}
