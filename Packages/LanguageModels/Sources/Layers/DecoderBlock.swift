/// One decoder layer: pre-norm attention and MLP with residuals; Gemma 2 adds a norm after each.
package struct DecoderBlock: Sendable {
  /// The layer index.
  package let index: Int
  /// `input_layernorm`.
  package let inputNorm: RMSNorm
  /// `post_attention_layernorm`: before the MLP (Llama family) or after attention (Gemma 2).
  package let postAttentionNorm: RMSNorm
  /// Gemma 2's `pre_feedforward_layernorm`.
  package let preFeedForwardNorm: RMSNorm?
  /// Gemma 2's `post_feedforward_layernorm`.
  package let postFeedForwardNorm: RMSNorm?
  package let attention: SelfAttention
  package let feedForward: FeedForward

  /// Every linear of the layer, in module order.
  package var linears: [any LinearLayer] { attention.linears + feedForward.linears }

  /// Updates the residual stream `state` (`[rows, hidden]`) in place.
  func forward(_ stateStart: UnsafeMutablePointer<Float>, rows: Int, width: Int, context: ForwardContext)
    throws(LanguageModelError)
  {
    let state = UnsafeMutableBufferPointer(start: stateStart, count: rows * width)
    let workspace = context.cache.workspace
    let count = state.count
    let normedStart = workspace.pointer("block.normed", count: count)
    let branchStart = workspace.pointer("block.branch", count: count)
    let normed = UnsafeMutableBufferPointer(start: normedStart, count: count)
    let branch = UnsafeMutableBufferPointer(start: branchStart, count: count)
    inputNorm.apply(stateStart, rows: rows, into: normedStart)
    try attention.forward(UnsafeBufferPointer(normed), rows: rows, into: branch, context: context)
    if let preFeedForwardNorm, let postFeedForwardNorm {
      postAttentionNorm.apply(branchStart, rows: rows, into: branchStart)
      for i in 0..<count { state[i] += branch[i] }
      preFeedForwardNorm.apply(stateStart, rows: rows, into: normedStart)
      try feedForward.forward(UnsafeBufferPointer(normed), rows: rows, into: branch, context: context)
      postFeedForwardNorm.apply(branchStart, rows: rows, into: branchStart)
      for i in 0..<count { state[i] += branch[i] }
    } else {
      for i in 0..<count { state[i] += branch[i] }
      postAttentionNorm.apply(stateStart, rows: rows, into: normedStart)
      try feedForward.forward(UnsafeBufferPointer(normed), rows: rows, into: branch, context: context)
      for i in 0..<count { state[i] += branch[i] }
    }
  }
}
