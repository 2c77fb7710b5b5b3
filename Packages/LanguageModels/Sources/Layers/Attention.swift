import Foundation

/// The query/key/value projections: three linears, or Phi-3's one fused `qkv_proj`.
package enum QKVProjection: Sendable {
  /// `q_proj`, `k_proj`, `v_proj`.
  case separate(query: any LinearLayer, key: any LinearLayer, value: any LinearLayer)
  /// `qkv_proj` producing `[q | k | v]` per row.
  case fused(any LinearLayer)

  /// Every linear, for accounting and adapters.
  package var linears: [any LinearLayer] {
    switch self {
    case .separate(let query, let key, let value): [query, key, value]
    case .fused(let qkv): [qkv]
    }
  }
}

/// Self-attention of one decoder layer: projections, optional q/k RMSNorm per head (Qwen3), RoPE,
/// the layer's cache, causal (optionally sliding-window) GQA attention with optional soft-capping of
/// the scores (Gemma 2), and the output projection.
package struct SelfAttention: Sendable {
  /// The layer index (its slot in the cache).
  package let layer: Int
  package let qkv: QKVProjection
  /// `o_proj`.
  package let output: any LinearLayer
  /// Qwen3's `q_norm` over `head_dim`.
  package let queryNorm: RMSNorm?
  /// Qwen3's `k_norm` over `head_dim`.
  package let keyNorm: RMSNorm?
  package let heads: Int
  package let keyValueHeads: Int
  package let headDimension: Int
  /// Score multiplier (`head_dim^-0.5` or Gemma 2's `query_pre_attn_scalar^-0.5`).
  package let scale: Float
  /// `attn_logit_softcapping`.
  package let softcap: Float?
  /// The window of a sliding-attention layer; `nil` for full attention.
  package let window: Int?

  /// Every linear of the attention, in module order.
  package var linears: [any LinearLayer] { qkv.linears + [output] }

  /// Runs attention for `rows` new positions starting at `cache.count`, appending their keys and values
  /// to the cache (the caller advances it after the last layer).
  func forward(
    _ input: UnsafeBufferPointer<Float>, rows: Int, into result: UnsafeMutableBufferPointer<Float>,
    context: ForwardContext
  ) throws(LanguageModelError) {
    let cache = context.cache
    let workspace = cache.workspace
    let queryWidth = heads * headDimension
    let kvWidth = keyValueHeads * headDimension
    let start = cache.count
    let queriesStart = workspace.pointer("attention.q", count: rows * queryWidth)
    let queries = UnsafeMutableBufferPointer(start: queriesStart, count: rows * queryWidth)
    let (keysOut, valuesOut) = cache.newRows(layer: layer, rows: rows)
    let newKeys = UnsafeMutableBufferPointer(start: keysOut, count: rows * kvWidth)
    let newValues = UnsafeMutableBufferPointer(start: valuesOut, count: rows * kvWidth)
    switch qkv {
    case .separate(let query, let key, let value):
      try context.run(query, input, rows: rows, into: queries)
      try context.run(key, input, rows: rows, into: newKeys)
      try context.run(value, input, rows: rows, into: newValues)
    case .fused(let fused):
      let width = queryWidth + 2 * kvWidth
      let packedStart = workspace.pointer("attention.qkv", count: rows * width)
      let packed = UnsafeMutableBufferPointer(start: packedStart, count: rows * width)
      try context.run(fused, input, rows: rows, into: packed)
      for row in 0..<rows {
        let source = packedStart + row * width
        (queriesStart + row * queryWidth).update(from: source, count: queryWidth)
        (keysOut + row * kvWidth).update(from: source + queryWidth, count: kvWidth)
        (valuesOut + row * kvWidth).update(from: source + queryWidth + kvWidth, count: kvWidth)
      }
    }
    if let queryNorm { queryNorm.apply(queriesStart, rows: rows * heads, into: queriesStart) }
    if let keyNorm { keyNorm.apply(keysOut, rows: rows * keyValueHeads, into: keysOut) }
    context.rope.apply(
      queries, rows: rows, heads: heads, headDimension: headDimension, cos: context.cos, sin: context.sin)
    context.rope.apply(
      newKeys, rows: rows, heads: keyValueHeads, headDimension: headDimension, cos: context.cos, sin: context.sin)

    let mixedStart = workspace.pointer("attention.mixed", count: rows * queryWidth)
    let mixed = UnsafeMutableBufferPointer(start: mixedStart, count: rows * queryWidth)
    let kernel = AttentionKernel(
      heads: heads, keyValueHeads: keyValueHeads, headDimension: headDimension, scale: scale, softcap: softcap,
      window: window)
    let (keys, values) = cache.commit(layer: layer, rows: rows)
    kernel.run(
      queries: UnsafePointer(queriesStart), keys: keys, values: values, rows: rows, start: start, output: mixedStart,
      workspace: workspace, threads: context.threads)
    try context.run(output, UnsafeBufferPointer(mixed), rows: rows, into: result)
  }
}
