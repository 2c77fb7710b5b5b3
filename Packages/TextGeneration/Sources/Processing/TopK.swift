/// transformers' `TopKLogitsWarper`: removes every token whose logit is below the k-th largest logit
/// (ties with the k-th are kept, as `scores < topk(scores, k)[-1]` keeps them).
public struct TopK: LogitsProcessor {
  /// How many of the most likely tokens to keep.
  public let k: Int
  /// The least number of tokens kept whatever `k` is (transformers' `min_tokens_to_keep`).
  public let minTokensToKeep: Int

  /// Creates the warper.
  ///
  /// - Parameters:
  ///     - k: how many tokens to keep, at least 1.
  ///     - minTokensToKeep: the least number of tokens kept; transformers uses 1 outside beam search.
  /// - Throws: ``GenerationParameterError/invalid(_:_:)`` when `k` is not positive.
  public init(k: Int, minTokensToKeep: Int = 1) throws(GenerationParameterError) {
    guard k > 0 else { throw .invalid("top-k", "must be > 0, got \(k)") }
    self.k = k
    self.minTokensToKeep = minTokensToKeep
  }

  /// Applies the processor to `logits` (see the type's description).
  public func process(_ logits: inout [Float], tokens: [Int]) {
    let keep = min(max(k, minTokensToKeep), logits.count)
    guard keep > 0, keep < logits.count else { return }
    let threshold = LogitsMath.kthLargest(logits, keep)
    for index in logits.indices where logits[index] < threshold { logits[index] = -.infinity }
  }
}
