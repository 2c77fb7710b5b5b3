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
    let keysByDimension = Self.byDimension(k, tokens: t, heads: kvHeads, headDim: d)
    q.withUnsafeBufferPointer { q in
      keysByDimension.withUnsafeBufferPointer { kt in
        v.withUnsafeBufferPointer { v in
          output.withUnsafeMutableBufferPointer { output in
            lse.withUnsafeMutableBufferPointer { lse in
              // Heads are independent: each range of heads writes its own output columns and lse rows.
              ParallelRanges.run(count: heads, threads: threads) { range in
                guard let qp = q.baseAddress, let ktp = kt.baseAddress, let vp = v.baseAddress,
                  let op = output.baseAddress
                else { return }
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: t)
                defer { scores.deallocate() }
                for h in range {
                  let kvh = h / group
                  let keys = ktp + kvh &* d &* t
                  for i in 0..<t {
                    let qBase = (i &* heads &+ h) &* d
                    let first = max(0, i &- window &+ 1)
                    let count = i &- first &+ 1
                    Self.scores(
                      query: qp + qBase, keys: keys, tokens: t, first: first, count: count, headDim: d, scale: scale, into: scores
                    )
                    var maximum = -Float.infinity
                    for j in first...i {
                      if let softcap { scores[j] = Foundation.tanh(scores[j] / softcap) * softcap }
                      maximum = max(maximum, scores[j])
                    }
                    var sum: Float = 0
                    for j in first...i {
                      scores[j] = Foundation.exp(scores[j] - maximum)
                      sum += scores[j]
                    }
                    lse[h &* t &+ i] = maximum + Foundation.log(sum)
                    for j in first...i {
                      let vBase = (j &* kvHeads &+ kvh) &* d
                      Matrix.axpy(scores[j] / sum, vp + vBase, into: op + qBase, count: d)
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

  /// `[tokens, heads, headDim]` rearranged as `[heads, headDim, tokens]`: for one head and one dimension, the
  /// values of every token are contiguous, so a query row's scores are `headDim` SIMD updates along tokens.
  static func byDimension(_ values: [Float], tokens t: Int, heads: Int, headDim d: Int) -> [Float] {
    var result = [Float](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { target in
        for token in 0..<t {
          for head in 0..<heads {
            let from = (token &* heads &+ head) &* d
            let to = head &* d &* t &+ token
            for c in 0..<d { target[to &+ c &* t] = source[from &+ c] }
          }
        }
      }
    }
    return result
  }

  /// `scores[first ..< first + count] = scale · Σ_c query[c] · keys[c, first ..< first + count]` for one
  /// head's keys laid out `[headDim, tokens]`.
  @inline(__always)
  static func scores(
    query: UnsafePointer<Float>, keys: UnsafePointer<Float>, tokens t: Int, first: Int, count: Int, headDim d: Int,
    scale: Float, into scores: UnsafeMutablePointer<Float>
  ) {
    (scores + first).update(repeating: 0, count: count)
    for c in 0..<d { Matrix.axpy(query[c] * scale, keys + (c &* t &+ first), into: scores + first, count: count) }
  }

  /// `y[c] += Σ_g weights[g] · rows[g·width + c]` for `c < width`, the terms added in `g` order to each `y[c]`.
  @inline(__always)
  static func accumulate(
    _ weights: UnsafePointer<Float>, rows: UnsafePointer<Float>, count: Int, width: Int, into y: UnsafeMutablePointer<Float>
  ) {
    var c = 0
    while c &+ 8 <= width {
      var sum = UnsafeRawPointer(y + c).loadUnaligned(as: SIMD8<Float>.self)
      for g in 0..<count {
        sum += SIMD8(repeating: weights[g]) * UnsafeRawPointer(rows + (g &* width &+ c)).loadUnaligned(as: SIMD8<Float>.self)
      }
      UnsafeMutableRawPointer(y + c).storeBytes(of: sum, as: SIMD8<Float>.self)
      c &+= 8
    }
    while c < width {
      var sum = y[c]
      for g in 0..<count { sum += weights[g] * rows[g &* width &+ c] }
      y[c] = sum
      c &+= 1
    }
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
    let keysByDimension = Self.byDimension(k, tokens: t, heads: kvHeads, headDim: d)
    let valuesByDimension = Self.byDimension(v, tokens: t, heads: kvHeads, headDim: d)
    outputGradient.withUnsafeBufferPointer { dO in
      q.withUnsafeBufferPointer { q in
        keysByDimension.withUnsafeBufferPointer { kt in
          valuesByDimension.withUnsafeBufferPointer { vt in
            saved.output.withUnsafeBufferPointer { o in
              saved.logSumExp.withUnsafeBufferPointer { lse in
                dq.withUnsafeMutableBufferPointer { dq in
                  dk.withUnsafeMutableBufferPointer { dk in
                    dv.withUnsafeMutableBufferPointer { dv in
                      // KV heads are independent: a range of KV heads owns its dK/dV columns and its query heads' dQ.
                      ParallelRanges.run(count: kvHeads, threads: threads) { range in
                        guard let qp = q.baseAddress, let ktp = kt.baseAddress,
                          let vtp = vt.baseAddress, let dOp = dO.baseAddress, let op = o.baseAddress,
                          let dqp = dq.baseAddress, let dkp = dk.baseAddress, let dvp = dv.baseAddress
                        else { return }
                        // Per query head of the KV head's group, per key of one query row: the probability, then
                        // dP, then dS (one row of `t` per head).
                        let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: group * t)
                        let gradients = UnsafeMutablePointer<Float>.allocate(capacity: group * t)
                        // With soft-capping, d(capped)/d(score) = 1 − tanh² per key.
                        let capDerivative = UnsafeMutablePointer<Float>.allocate(capacity: group * t)
                        let weights = UnsafeMutablePointer<Float>.allocate(capacity: group)
                        defer {
                          probabilities.deallocate()
                          gradients.deallocate()
                          capDerivative.deallocate()
                          weights.deallocate()
                        }
                        for kvh in range {
                          let keys = ktp + kvh &* d &* t
                          let values = vtp + kvh &* d &* t
                          for i in 0..<t {
                            let first = max(0, i &- window &+ 1)
                            let count = i &- first &+ 1
                            for g in 0..<group {
                              let h = kvh &* group &+ g
                              let qBase = (i &* heads &+ h) &* d
                              let rowLSE = lse[h &* t &+ i]
                              let delta = Matrix.dot(dOp + qBase, op + qBase, count: d)
                              let rowP = probabilities + g &* t
                              let rowDS = gradients + g &* t
                              let rowCap = capDerivative + g &* t
                              Self.scores(
                                query: qp + qBase, keys: keys, tokens: t, first: first, count: count, headDim: d,
                                scale: scale, into: rowP)
                              for j in first...i {
                                var score = rowP[j]
                                if let softcap {
                                  let tanh = Foundation.tanh(score / softcap)
                                  score = tanh * softcap
                                  rowCap[j] = 1 - tanh * tanh
                                }
                                rowP[j] = Foundation.exp(score - rowLSE)
                              }
                              // dP[j] = dO_i · v_j, then dS.
                              Self.scores(
                                query: dOp + qBase, keys: values, tokens: t, first: first, count: count, headDim: d,
                                scale: 1, into: rowDS)
                              for j in first...i {
                                var ds = rowP[j] * (rowDS[j] - delta) * scale
                                if softcap != nil { ds *= rowCap[j] }
                                rowDS[j] = ds
                              }
                              // dQ_i[c] = Σ_j dS[j] · k_j[c].
                              for c in 0..<d {
                                dqp[qBase &+ c] += Matrix.dot(rowDS + first, keys + (c &* t &+ first), count: count)
                              }
                            }
                            // dV_j += Σ_g P_g[j]·dO_g,i and dK_j += Σ_g dS_g[j]·q_g,i: the group's query heads are
                            // adjacent in a row, and each key's dV/dK row is read and written once for all of them.
                            let groupBase = (i &* heads &+ kvh &* group) &* d
                            for j in first...i {
                              let kvBase = (j &* kvHeads &+ kvh) &* d
                              for g in 0..<group { weights[g] = probabilities[g &* t &+ j] }
                              Self.accumulate(weights, rows: dOp + groupBase, count: group, width: d, into: dvp + kvBase)
                              for g in 0..<group { weights[g] = gradients[g &* t &+ j] }
                              Self.accumulate(weights, rows: qp + groupBase, count: group, width: d, into: dkp + kvBase)
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
