import CPUKernels
import Foundation
import QuantCore

/// Causal scaled dot-product attention with grouped-query heads on `[tokens, heads, headDim]` buffers,
/// with a backward pass that recomputes the probabilities from the saved log-sum-exp, so no
/// `[tokens, tokens]` matrix is ever stored.
///
/// Both passes run per KV head and per block of ``queryBlock`` query tokens, with the query heads of the KV
/// head's group stacked as the rows of one block: the scores, `P·V`, `dO·Vᵀ`, `dS·K`, `dSᵀ·Q` and `Pᵀ·dO` of a
/// block are products on the CPU backend's packed GEMM, over the keys the block's queries can see (the causal
/// triangle and the sliding window skip whole key ranges). Only one block's `[rows, keys]` scores are held at a
/// time.
public struct CausalAttentionOp: Sendable {
  /// Query heads.
  public var heads: Int
  /// Key/value heads (query head `h` reads KV head `h / (heads / kvHeads)`, as transformers' `repeat_kv`).
  public var kvHeads: Int
  /// The head dimension.
  public var headDim: Int
  /// The score multiplier (`1/√headDim` unless the model says otherwise).
  public var scale: Float
  /// Threads: KV heads and query blocks (forward) and KV heads (backward) are split across them; results do
  /// not depend on it.
  public var threads = 1
  /// Query tokens per block of the blocked products (results depend on it only through float32 rounding).
  package var queryBlock = 32
  /// Sliding-window attention: query `i` sees keys `max(0, i − window + 1)…i` (transformers' Mistral and
  /// Qwen rule); `nil` is full causal attention.
  public var window: Int?
  /// Gemma 2's attention soft-capping of the scaled scores, `cap·tanh(s/cap)`, or `nil`.
  public var softcap: Float?

  /// Creates the op.
  ///
  /// - Parameters:
  ///   - heads: Query heads.
  ///   - kvHeads: Key/value heads, a divisor of `heads`.
  ///   - headDim: The head dimension.
  ///   - scale: The score multiplier; `nil` means `1/√headDim`.
  /// - Throws: `QLoRAError.invalidSetting` when `kvHeads` does not divide `heads`.
  public init(heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil) throws(QLoRAError) {
    guard heads > 0, kvHeads > 0, heads % kvHeads == 0, headDim > 0 else {
      throw .invalidSetting(name: "attention heads", reason: "\(heads) query heads over \(kvHeads) KV heads")
    }
    self.heads = heads
    self.kvHeads = kvHeads
    self.headDim = headDim
    self.scale = scale ?? 1 / Float(headDim).squareRoot()
  }

  /// What the backward pass needs besides the inputs: the output and each row's log-sum-exp.
  public struct Saved: Sendable {
    /// The attention output `[tokens, heads, headDim]`.
    public var output: [Float]
    /// The log-sum-exp of each query row's scaled scores, `[heads, tokens]`.
    public var logSumExp: [Float]
  }

  private func tokens(_ q: [Float], _ k: [Float], _ v: [Float]) throws(QLoRAError) -> Int {
    let rowSize = heads * headDim
    guard q.count % rowSize == 0 else { throw .shapeMismatch(context: "attention queries", expected: rowSize, found: q.count) }
    let t = q.count / rowSize
    try k.require(t * kvHeads * headDim, "attention keys")
    try v.require(t * kvHeads * headDim, "attention values")
    return t
  }

  /// Computes `softmax(QKᵀ·scale + causal mask)·V`.
  ///
  /// - Parameters:
  ///   - q: Queries `[tokens, heads, headDim]` (after RoPE).
  ///   - k: Keys `[tokens, kvHeads, headDim]` (after RoPE).
  ///   - v: Values `[tokens, kvHeads, headDim]`.
  /// - Returns: The output and what the backward pass reuses.
  /// - Throws: `QLoRAError.shapeMismatch` on inconsistent sizes.
  public func forward(q: [Float], k: [Float], v: [Float]) throws(QLoRAError) -> Saved {
    let t = try tokens(q, k, v)
    let layout = BlockLayout(op: self, tokens: t)
    var output = [Float](repeating: 0, count: q.count)
    var lse = [Float](repeating: 0, count: heads * t)
    let keys = layout.packedByHead(k)
    q.withUnsafeBufferPointer { q in
      keys.withUnsafeBufferPointer { keys in
        v.withUnsafeBufferPointer { v in
          output.withUnsafeMutableBufferPointer { output in
            lse.withUnsafeMutableBufferPointer { lse in
              guard let qp = q.baseAddress, let kp = keys.baseAddress, let vp = v.baseAddress,
                let op = output.baseAddress, let lp = lse.baseAddress
              else { return }
              nonisolated(unsafe) let (outputs, logSumExps) = (op, lp)
              // Every (KV head, query block) writes its own output rows and lse entries.
              ParallelRanges.run(count: kvHeads * layout.blocks, threads: threads) { items in
                let scratch = BlockScratch(layout: layout, backward: false)
                defer { scratch.deallocate() }
                for item in items {
                  let block = layout.block(item % layout.blocks, kvHead: item / layout.blocks)
                  layout.gather(qp, block: block, into: scratch.queries)
                  layout.probabilities(
                    block, queries: scratch.queries, keys: kp, logSumExp: nil, into: scratch.probabilities,
                    capDerivative: nil, savingLogSumExp: logSumExps)
                  // O = P·V over the block's keys, read in place from `[tokens, kvHeads, headDim]`.
                  Self.blockBackend.productWithKMajorWeights(
                    x: scratch.probabilities, m: block.rows,
                    weight: UnsafeRawPointer(vp + (block.firstKey &* kvHeads &+ block.kvHead) &* headDim),
                    dtype: .float32, ldw: kvHeads &* headDim, n: headDim, k: block.keys, into: scratch.outputs,
                    accumulate: false)
                  layout.scatter(scratch.outputs, block: block, into: outputs)
                }
              }
            }
          }
        }
      }
    }
    return Saved(output: output, logSumExp: lse)
  }

  /// The gradients of queries, keys and values: `dV = PᵀdO`, `dS = P⊙(dO·Vᵀ − rowsum(dO⊙O))`,
  /// `dQ = dS·K·scale`, `dK = dSᵀ·Q·scale`, summed over each KV head's query heads.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dO` `[tokens, heads, headDim]`.
  ///   - q: The forward queries.
  ///   - k: The forward keys.
  ///   - v: The forward values.
  ///   - saved: The forward pass's ``Saved``.
  /// - Returns: `(dq, dk, dv)` in the input layouts.
  /// - Throws: `QLoRAError.shapeMismatch` on inconsistent sizes.
  public func backward(
    _ outputGradient: [Float], q: [Float], k: [Float], v: [Float], saved: Saved
  ) throws(QLoRAError) -> (dq: [Float], dk: [Float], dv: [Float]) {
    let t = try tokens(q, k, v)
    try outputGradient.require(q.count, "attention output gradient")
    try saved.output.require(q.count, "attention output")
    try saved.logSumExp.require(heads * t, "attention log-sum-exp")
    let layout = BlockLayout(op: self, tokens: t)
    let d = headDim
    var dq = [Float](repeating: 0, count: q.count)
    // dK and dV accumulate per KV head in `[kvHeads, tokens, headDim]`, then go back to the input layout.
    var dkByHead = [Float](repeating: 0, count: k.count)
    var dvByHead = [Float](repeating: 0, count: v.count)
    let keys = layout.packedByHead(k)
    let values = layout.packedByHead(v)
    outputGradient.withUnsafeBufferPointer { dO in
      q.withUnsafeBufferPointer { q in
        keys.withUnsafeBufferPointer { keys in
          values.withUnsafeBufferPointer { values in
            saved.output.withUnsafeBufferPointer { o in
              saved.logSumExp.withUnsafeBufferPointer { lse in
                dq.withUnsafeMutableBufferPointer { dq in
                  dkByHead.withUnsafeMutableBufferPointer { dk in
                    dvByHead.withUnsafeMutableBufferPointer { dv in
                      guard let qp = q.baseAddress, let kp = keys.baseAddress, let vp = values.baseAddress,
                        let dOp = dO.baseAddress, let op = o.baseAddress, let lp = lse.baseAddress,
                        let dqBase = dq.baseAddress, let dkBase = dk.baseAddress, let dvBase = dv.baseAddress
                      else { return }
                      nonisolated(unsafe) let (dqp, dkp, dvp) = (dqBase, dkBase, dvBase)
                      // KV heads are independent: a range of KV heads owns its dK/dV rows and its query heads' dQ.
                      ParallelRanges.run(count: kvHeads, threads: threads) { range in
                        let scratch = BlockScratch(layout: layout, backward: true)
                        defer { scratch.deallocate() }
                        for kvh in range {
                          for index in 0..<layout.blocks {
                            let block = layout.block(index, kvHead: kvh)
                            let (rows, n) = (block.rows, block.keys)
                            let keyRows = kp + (kvh &* t &+ block.firstKey) &* d
                            layout.gather(qp, block: block, into: scratch.queries)
                            layout.gather(dOp, block: block, into: scratch.outputGradients)
                            layout.probabilities(
                              block, queries: scratch.queries, keys: kp, logSumExp: lp, into: scratch.probabilities,
                              capDerivative: scratch.capDerivative, savingLogSumExp: nil)
                            // dP = dO·Vᵀ, then dS = P⊙(dP − δ)·scale (·(1 − tanh²) when soft-capped).
                            Self.blockBackend.productWithRowMajorWeights(
                              x: scratch.outputGradients, m: rows,
                              weight: UnsafeRawPointer(vp + (kvh &* t &+ block.firstKey) &* d), dtype: .float32, n: n,
                              k: d, into: scratch.scoreGradients, packedForAnyRows: true)
                            for r in 0..<rows {
                              let row = layout.sourceRow(r, block: block)
                              let delta = Matrix.dot(dOp + row, op + row, count: d)
                              let p = scratch.probabilities + r &* n
                              let ds = scratch.scoreGradients + r &* n
                              for j in 0..<n { ds[j] = p[j] * (ds[j] - delta) * scale }
                              if let cap = scratch.capDerivative {
                                for j in 0..<n { ds[j] *= cap[r &* n &+ j] }
                              }
                            }
                            // dQ = dS·K (every block row is one query row of one head: written once).
                            Self.blockBackend.productWithKMajorWeights(
                              x: scratch.scoreGradients, m: rows, weight: UnsafeRawPointer(keyRows), dtype: .float32,
                              ldw: d, n: d, k: n, into: scratch.outputs, accumulate: false)
                            layout.scatter(scratch.outputs, block: block, into: dqp)
                            // dK += dSᵀ·Q and dV += Pᵀ·dO over the block's keys.
                            let firstRow = (kvh &* t &+ block.firstKey) &* d
                            Matrix.transpose(scratch.scoreGradients, rows: rows, columns: n, into: scratch.transposed)
                            Self.blockBackend.productWithKMajorWeights(
                              x: scratch.transposed, m: n, weight: UnsafeRawPointer(scratch.queries), dtype: .float32,
                              ldw: d, n: d, k: rows, into: dkp + firstRow, accumulate: true)
                            Matrix.transpose(scratch.probabilities, rows: rows, columns: n, into: scratch.transposed)
                            Self.blockBackend.productWithKMajorWeights(
                              x: scratch.transposed, m: n, weight: UnsafeRawPointer(scratch.outputGradients),
                              dtype: .float32, ldw: d, n: d, k: rows, into: dvp + firstRow, accumulate: true)
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    return (dq, layout.unpackedByHead(dkByHead), layout.unpackedByHead(dvByHead))
  }

  /// The single-threaded CPU backend each thread's block products run on (its scratch pool is shared safely).
  fileprivate static let blockBackend = CPUBackend(threads: 1)
}

/// Where a (KV head, query block) pair's rows, keys and heads lie.
private struct AttentionBlock {
  let kvHead: Int
  /// Query tokens `firstQuery ..< endQuery`.
  let firstQuery: Int
  let endQuery: Int
  /// The first key any of the block's queries sees.
  let firstKey: Int
  /// Block rows: query tokens × the group's heads, token-major (`row = (i − firstQuery)·group + g`).
  let rows: Int
  /// Keys `firstKey ..< endQuery`.
  var keys: Int { endQuery &- firstKey }
}

/// The shapes and the row/key arithmetic shared by the forward and backward passes.
private struct BlockLayout {
  let heads: Int
  let kvHeads: Int
  let group: Int
  let headDim: Int
  let tokens: Int
  let queryBlock: Int
  let blocks: Int
  let window: Int
  let scale: Float
  let softcap: Float?

  init(op: CausalAttentionOp, tokens t: Int) {
    heads = op.heads
    kvHeads = op.kvHeads
    group = op.heads / op.kvHeads
    headDim = op.headDim
    tokens = t
    queryBlock = max(1, min(op.queryBlock, t))
    blocks = t == 0 ? 0 : (t + queryBlock - 1) / queryBlock
    window = op.window.map { max(1, $0) } ?? t
    scale = op.scale
    softcap = op.softcap
  }

  /// The most rows any block has (a full block of queries times the group's heads).
  var maximumRows: Int { queryBlock &* group }

  func block(_ index: Int, kvHead: Int) -> AttentionBlock {
    let first = index &* queryBlock
    let end = min(tokens, first &+ queryBlock)
    return AttentionBlock(
      kvHead: kvHead, firstQuery: first, endQuery: end, firstKey: max(0, first &- window &+ 1),
      rows: (end &- first) &* group)
  }

  /// The offset of block row `r` in a `[tokens, heads, headDim]` buffer.
  func sourceRow(_ r: Int, block: AttentionBlock) -> Int {
    let i = block.firstQuery &+ r / group
    return (i &* heads &+ block.kvHead &* group &+ r % group) &* headDim
  }

  /// Copies the block's rows of a `[tokens, heads, headDim]` buffer into `[rows, headDim]`: for each query
  /// token, the group's heads are adjacent.
  func gather(_ source: UnsafePointer<Float>, block: AttentionBlock, into target: UnsafeMutablePointer<Float>) {
    let width = group &* headDim
    for i in block.firstQuery..<block.endQuery {
      let from = source + (i &* heads &+ block.kvHead &* group) &* headDim
      (target + (i &- block.firstQuery) &* width).update(from: from, count: width)
    }
  }

  /// Writes `[rows, headDim]` back to the block's rows of a `[tokens, heads, headDim]` buffer.
  func scatter(_ source: UnsafePointer<Float>, block: AttentionBlock, into target: UnsafeMutablePointer<Float>) {
    let width = group &* headDim
    for i in block.firstQuery..<block.endQuery {
      let to = target + (i &* heads &+ block.kvHead &* group) &* headDim
      to.update(from: source + (i &- block.firstQuery) &* width, count: width)
    }
  }

  /// `[tokens, kvHeads, headDim]` as `[kvHeads, tokens, headDim]`: each KV head's rows contiguous.
  func packedByHead(_ values: [Float]) -> [Float] {
    rearranged(values, toHeadMajor: true)
  }

  /// `[kvHeads, tokens, headDim]` back to `[tokens, kvHeads, headDim]`.
  func unpackedByHead(_ values: [Float]) -> [Float] {
    rearranged(values, toHeadMajor: false)
  }

  private func rearranged(_ values: [Float], toHeadMajor: Bool) -> [Float] {
    let d = headDim
    return [Float](unsafeUninitializedCapacity: values.count) { target, count in
      values.withUnsafeBufferPointer { source in
        guard let from = source.baseAddress, let to = target.baseAddress else { return }
        for token in 0..<tokens {
          for head in 0..<kvHeads {
            let tokenMajor = (token &* kvHeads &+ head) &* d
            let headMajor = (head &* tokens &+ token) &* d
            if toHeadMajor {
              (to + headMajor).initialize(from: from + tokenMajor, count: d)
            } else {
              (to + tokenMajor).initialize(from: from + headMajor, count: d)
            }
          }
        }
      }
      count = values.count
    }
  }

  /// The block's probabilities `[rows, keys]`: `softmax(Q·Kᵀ·scale)` over each row's visible keys (zero
  /// elsewhere), soft-capped first when the model says so.
  ///
  /// - Parameters:
  ///   - block: The block.
  ///   - queries: The gathered queries `[rows, headDim]`.
  ///   - keys: All keys `[kvHeads, tokens, headDim]`.
  ///   - logSumExp: The forward pass's log-sum-exp `[heads, tokens]` (backward), or `nil` to compute it.
  ///   - probabilities: Receives `[rows, keys]`.
  ///   - capDerivative: Receives `1 − tanh²` per score when soft-capped (backward).
  ///   - savingLogSumExp: Receives each row's log-sum-exp (forward).
  func probabilities(
    _ block: AttentionBlock, queries: UnsafePointer<Float>, keys: UnsafePointer<Float>,
    logSumExp: UnsafePointer<Float>?, into probabilities: UnsafeMutablePointer<Float>,
    capDerivative: UnsafeMutablePointer<Float>?, savingLogSumExp: UnsafeMutablePointer<Float>?
  ) {
    let n = block.keys
    let keyRows = keys + (block.kvHead &* tokens &+ block.firstKey) &* headDim
    CausalAttentionOp.blockBackend.productWithRowMajorWeights(
      x: queries, m: block.rows, weight: UnsafeRawPointer(keyRows), dtype: .float32, n: n, k: headDim,
      into: probabilities, packedForAnyRows: true)
    for r in 0..<block.rows {
      let i = block.firstQuery &+ r / group
      let h = block.kvHead &* group &+ r % group
      // Visible keys, as columns of the block: max(0, i − window + 1) … i.
      let first = max(0, i &- window &+ 1) &- block.firstKey
      let last = i &- block.firstKey
      let p = probabilities + r &* n
      let hidden = n &- last &- 1
      p.update(repeating: 0, count: first)
      (p + (last &+ 1)).update(repeating: 0, count: hidden)
      if let capDerivative {
        let cap = capDerivative + r &* n
        cap.update(repeating: 0, count: first)
        (cap + (last &+ 1)).update(repeating: 0, count: hidden)
      }
      var maximum = -Float.infinity
      for j in first...last {
        var score = p[j] * scale
        if let softcap {
          let tanh = Foundation.tanh(score / softcap)
          score = tanh * softcap
          capDerivative?[r &* n &+ j] = 1 - tanh * tanh
        }
        p[j] = score
        maximum = max(maximum, score)
      }
      if let logSumExp {
        let rowLSE = logSumExp[h &* tokens &+ i]
        for j in first...last { p[j] = Foundation.exp(p[j] - rowLSE) }
      } else {
        var sum: Float = 0
        for j in first...last {
          p[j] = Foundation.exp(p[j] - maximum)
          sum += p[j]
        }
        for j in first...last { p[j] /= sum }
        savingLogSumExp?[h &* tokens &+ i] = maximum + Foundation.log(sum)
      }
    }
  }
}

/// One thread's buffers for a block: gathered rows, `[rows, keys]` scores and their transpose (the backward
/// pass's buffers are empty in the forward pass).
private struct BlockScratch {
  let queries: UnsafeMutablePointer<Float>
  let outputGradients: UnsafeMutablePointer<Float>
  let outputs: UnsafeMutablePointer<Float>
  let probabilities: UnsafeMutablePointer<Float>
  let scoreGradients: UnsafeMutablePointer<Float>
  let transposed: UnsafeMutablePointer<Float>
  let capDerivative: UnsafeMutablePointer<Float>?

  init(layout: BlockLayout, backward: Bool) {
    let rowValues = layout.maximumRows &* layout.headDim
    let scores = layout.maximumRows &* layout.tokens
    queries = .allocate(capacity: rowValues)
    outputs = .allocate(capacity: rowValues)
    probabilities = .allocate(capacity: scores)
    outputGradients = .allocate(capacity: backward ? rowValues : 0)
    scoreGradients = .allocate(capacity: backward ? scores : 0)
    transposed = .allocate(capacity: backward ? scores : 0)
    capDerivative = backward && layout.softcap != nil ? .allocate(capacity: scores) : nil
  }

  func deallocate() {
    for buffer in [queries, outputGradients, outputs, probabilities, scoreGradients, transposed] { buffer.deallocate() }
    capDerivative?.deallocate()
  }
}
