/// transformers' `RepetitionPenaltyLogitsProcessor`: every token that occurs in the sequence has its logit
/// divided by the penalty when positive and multiplied by it when negative (once per distinct token).
///
/// Tokens outside the logits' range are ignored, as transformers clamps and drops them.
public struct RepetitionPenalty: LogitsProcessor {
  /// The penalty, greater than zero; 1 changes nothing, above 1 discourages repeats.
  public let penalty: Float

  /// Creates the processor.
  ///
  /// - Parameter penalty: the penalty, greater than zero.
  /// - Throws: ``GenerationParameterError/invalid(_:_:)`` when `penalty` is not a finite positive number.
  public init(penalty: Float) throws(GenerationParameterError) {
    guard penalty.isFinite, penalty > 0 else { throw .invalid("repetition penalty", "must be > 0, got \(penalty)") }
    self.penalty = penalty
  }

  /// Applies the processor to `logits` (see the type's description).
  public func process(_ logits: inout [Float], tokens: [Int]) {
    var seen = Set<Int>()
    for token in tokens where token >= 0 && token < logits.count && seen.insert(token).inserted {
      let score = logits[token]
      logits[token] = score < 0 ? score * penalty : score / penalty
    }
  }
}
