/// One step of logits processing, as transformers' `LogitsProcessor` / `LogitsWarper` classes define them.
///
/// A processor rewrites the next-token logits of one sequence in place. Removed tokens are set to
/// `-Float.infinity`, as transformers' `filter_value` does.
public protocol LogitsProcessor: Sendable {
  /// Rewrites `logits` for the next token.
  ///
  /// - Parameters:
  ///     - logits: the next-token logits, one per vocabulary entry; rewritten in place.
  ///     - tokens: every token of the sequence so far (prompt and generated), oldest first.
  func process(_ logits: inout [Float], tokens: [Int])
}
