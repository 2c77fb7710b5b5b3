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
  func forward(_ state: UnsafeMutableBufferPointer<Float>, rows: Int, context: ForwardContext) throws(LanguageModelError) {
    let workspace = context.cache.workspace
    let count = state.count
    let normed = workspace.buffer("block.normed", count: count)
    let branch = workspace.buffer("block.branch", count: count)
    inputNorm.apply(state.baseAddress!, rows: rows, into: normed.baseAddress!)
    try attention.forward(UnsafeBufferPointer(normed), rows: rows, into: branch, context: context)
    if let preFeedForwardNorm, let postFeedForwardNorm {
      postAttentionNorm.apply(branch.baseAddress!, rows: rows, into: branch.baseAddress!)
      for i in 0..<count { state[i] += branch[i] }
      preFeedForwardNorm.apply(state.baseAddress!, rows: rows, into: normed.baseAddress!)
      try feedForward.forward(UnsafeBufferPointer(normed), rows: rows, into: branch, context: context)
      postFeedForwardNorm.apply(branch.baseAddress!, rows: rows, into: branch.baseAddress!)
      for i in 0..<count { state[i] += branch[i] }
    } else {
      for i in 0..<count { state[i] += branch[i] }
      postAttentionNorm.apply(state.baseAddress!, rows: rows, into: normed.baseAddress!)
      try feedForward.forward(UnsafeBufferPointer(normed), rows: rows, into: branch, context: context)
      for i in 0..<count { state[i] += branch[i] }
    }
  }
}
