/// When a generation ends: on any end-of-sequence id, on any stop string, or after a number of new tokens.
public struct StoppingCriteria: Sendable, Equatable {
  /// The number of tokens to generate at most; 0 generates none.
  public var maxNewTokens: Int
  /// Token ids that end the generation (a model's `eos_token_id` may list several).
  public var endOfSequenceTokens: Set<Int>
  /// Texts that end the generation when they appear in the generated text; the text before is kept.
  public var stopStrings: [String]

  /// Creates criteria.
  ///
  /// - Parameters:
  ///     - maxNewTokens: at least 0.
  ///     - endOfSequenceTokens: the end-of-sequence ids.
  ///     - stopStrings: non-empty strings; empty ones are ignored.
  public init(maxNewTokens: Int, endOfSequenceTokens: Set<Int> = [], stopStrings: [String] = []) {
    self.maxNewTokens = max(maxNewTokens, 0)
    self.endOfSequenceTokens = endOfSequenceTokens
    self.stopStrings = stopStrings.filter { !$0.isEmpty }
  }
}
