import Foundation

/// Causal scaled dot-product attention with grouped-query heads on `[tokens, heads, headDim]` buffers,
/// with a backward pass that recomputes each probability row from the saved log-sum-exp, so no
/// `[tokens, tokens]` matrix is ever stored.
public struct CausalAttentionOp: Sendable {
  /// Query heads.
  public var heads: Int
  /// Key/value heads (query head `h` reads KV head `h / (heads / kvHeads)`, as transformers' `repeat_kv`).
  public var kvHeads: Int
  /// The head dimension.
  public var headDim: Int
  /// The score multiplier (`1/√headDim` unless the model says otherwise).
  public var scale: Float
  /// Threads: heads (forward) and KV heads (backward) are split across them; results do not depend on it.
  public var threads = 1
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
    let (d, heads, kvHeads, scale) = (headDim, self.heads, self.kvHeads, self.scale)
    let group = heads / kvHeads
    var output = [Float](repeating: 0, count: q.count)
    var lse = [Float](repeating: 0, count: heads * t)
    let window = self.window.map { max(1, $0) } ?? t
    let softcap = self.softcap
    q.withUnsafeBufferPointer { q in
      k.withUnsafeBufferPointer { k in
        v.withUnsafeBufferPointer { v in
          output.withUnsafeMutableBufferPointer { output in
            lse.withUnsafeMutableBufferPointer { lse in
              // Heads are independent: each range of heads writes its own output columns and lse rows.
              ParallelRanges.run(count: heads, threads: threads) { range in
                guard let qp = q.baseAddress, let kp = k.baseAddress else { return }
                var scores = [Float](repeating: 0, count: t)
                for h in range {
                  let kvh = h / group
                  for i in 0..<t {
                    let qBase = (i &* heads &+ h) &* d
                    let first = max(0, i &- window &+ 1)
                    var maximum = -Float.infinity
                    for j in first...i {
                      let kBase = (j &* kvHeads &+ kvh) &* d
                      var score = Matrix.dot(qp + qBase, kp + kBase, count: d) * scale
                      if let softcap { score = Foundation.tanh(score / softcap) * softcap }
                      scores[j] = score
                      maximum = max(maximum, scores[j])
                    }
                    var sum: Float = 0
                    for j in first...i {
                      scores[j] = Foundation.exp(scores[j] - maximum)
                      sum += scores[j]
                    }
                    lse[h &* t &+ i] = maximum + Foundation.log(sum)
                    for j in first...i {
                      let p = scores[j] / sum
                      let vBase = (j &* kvHeads &+ kvh) &* d
                      for c in 0..<d { output[qBase &+ c] += p * v[vBase &+ c] }
                    }
                  }
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
    let (d, heads, kvHeads, scale) = (headDim, self.heads, self.kvHeads, self.scale)
    let group = heads / kvHeads
    var dq = [Float](repeating: 0, count: q.count)
    var dk = [Float](repeating: 0, count: k.count)
    var dv = [Float](repeating: 0, count: v.count)
    let window = self.window.map { max(1, $0) } ?? t
    let softcap = self.softcap
    outputGradient.withUnsafeBufferPointer { dO in
      q.withUnsafeBufferPointer { q in
        k.withUnsafeBufferPointer { k in
          v.withUnsafeBufferPointer { v in
            saved.output.withUnsafeBufferPointer { o in
              saved.logSumExp.withUnsafeBufferPointer { lse in
                dq.withUnsafeMutableBufferPointer { dq in
                  dk.withUnsafeMutableBufferPointer { dk in
                    dv.withUnsafeMutableBufferPointer { dv in
                      // KV heads are independent: a range of KV heads owns its dK/dV columns and its query heads' dQ.
                      ParallelRanges.run(count: kvHeads, threads: threads) { range in
                        guard let qp = q.baseAddress, let kp = k.baseAddress, let vp = v.baseAddress,
                          let dOp = dO.baseAddress, let op = o.baseAddress
                        else { return }
                        var probabilities = [Float](repeating: 0, count: t)
                        // With soft-capping, d(capped)/d(score) = 1 − tanh² per key.
                        var capDerivative = [Float](repeating: 1, count: softcap == nil ? 0 : t)
                        for h in (range.lowerBound * group)..<(range.upperBound * group) {
                          let kvh = h / group
                          for i in 0..<t {
                            let qBase = (i &* heads &+ h) &* d
                            let rowLSE = lse[h &* t &+ i]
                            let delta = Matrix.dot(dOp + qBase, op + qBase, count: d)
                            let first = max(0, i &- window &+ 1)
                            for j in first...i {
                              let kBase = (j &* kvHeads &+ kvh) &* d
                              var score = Matrix.dot(qp + qBase, kp + kBase, count: d) * scale
                              if let softcap {
                                let tanh = Foundation.tanh(score / softcap)
                                score = tanh * softcap
                                capDerivative[j] = 1 - tanh * tanh
                              }
                              probabilities[j] = Foundation.exp(score - rowLSE)
                            }
                            for j in first...i {
                              let kvBase = (j &* kvHeads &+ kvh) &* d
                              let p = probabilities[j]
                              let dp = Matrix.dot(dOp + qBase, vp + kvBase, count: d)
                              for c in 0..<d { dv[kvBase &+ c] += p * dO[qBase &+ c] }
                              var ds = p * (dp - delta) * scale
                              if softcap != nil { ds *= capDerivative[j] }
                              for c in 0..<d {
                                dq[qBase &+ c] += ds * k[kvBase &+ c]
                                dk[kvBase &+ c] += ds * q[qBase &+ c]
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
      }
    }
    return (dq, dk, dv)
  }
}
