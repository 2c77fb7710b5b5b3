/// transformers' `TopPLogitsWarper` (nucleus sampling): sorts the tokens by ascending logit, and removes those
/// whose cumulative probability is at most `1 - p`, always keeping the `minTokensToKeep` most likely.
public struct TopP: LogitsProcessor {
  /// The probability mass to keep, in (0, 1].
  public let p: Float
  /// The least number of tokens kept (transformers' `min_tokens_to_keep`).
  public let minTokensToKeep: Int

  /// Creates the warper.
  ///
  /// - Parameters:
  ///     - p: the probability mass to keep, in (0, 1].
  ///     - minTokensToKeep: the least number of tokens kept; transformers uses 1 outside beam search.
  /// - Throws: ``GenerationParameterError/invalid(_:_:)`` when `p` is outside (0, 1].
  public init(p: Float, minTokensToKeep: Int = 1) throws(GenerationParameterError) {
    guard p > 0, p <= 1 else { throw .invalid("top-p", "must be in (0, 1], got \(p)") }
    self.p = p
    self.minTokensToKeep = minTokensToKeep
  }

  /// Applies the processor to `logits` (see the type's description).
  public func process(_ logits: inout [Float], tokens: [Int]) {
    // Ascending by logit, equal logits by index: torch.sort leaves the order of ties unspecified, so among
    // tied tokens at the boundary transformers may remove others than these (the fixtures have no such ties).
    let order = logits.indices.sorted { (logits[$0], $0) < (logits[$1], $1) }
    let sorted = order.map { logits[$0] }
    let probabilities = LogitsMath.softmax(sorted)
    let limit = 1 - p
    let protected = max(order.count - minTokensToKeep, 0)
    var cumulative: Float = 0
    for (rank, index) in order.enumerated() {
      cumulative += probabilities[rank]
      if rank < protected, cumulative <= limit { logits[index] = -.infinity }
    }
  }
}
