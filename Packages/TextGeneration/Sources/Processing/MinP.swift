/// transformers' `MinPLogitsWarper`: removes every token whose probability is below `minP` times the
/// probability of the most likely token, always keeping the `minTokensToKeep` most likely.
public struct MinP: LogitsProcessor {
  /// The fraction of the top probability a token needs to stay, in [0, 1].
  public let minP: Float
  /// The least number of tokens kept (transformers' `min_tokens_to_keep`).
  public let minTokensToKeep: Int

  /// Creates the warper.
  ///
  /// - Parameters:
  ///     - minP: in [0, 1].
  ///     - minTokensToKeep: the least number of tokens kept; transformers uses 1 outside beam search.
  /// - Throws: ``GenerationParameterError/invalid(_:_:)`` when `minP` is outside [0, 1].
  public init(minP: Float, minTokensToKeep: Int = 1) throws(GenerationParameterError) {
    guard minP >= 0, minP <= 1 else { throw .invalid("min-p", "must be in [0, 1], got \(minP)") }
    self.minP = minP
    self.minTokensToKeep = minTokensToKeep
  }

  /// Applies the processor to `logits` (see the type's description).
  public func process(_ logits: inout [Float], tokens: [Int]) {
    let probabilities = LogitsMath.softmax(logits)
    guard let top = probabilities.max() else { return }
    let threshold = minP * top
    var remove = probabilities.map { $0 < threshold }
    let keep = min(minTokensToKeep, logits.count)
    let mostLikely = probabilities.indices.sorted { (probabilities[$0], $1) > (probabilities[$1], $0) }
    for index in mostLikely.prefix(keep) { remove[index] = false }
    for index in logits.indices where remove[index] { logits[index] = -.infinity }
  }
}
