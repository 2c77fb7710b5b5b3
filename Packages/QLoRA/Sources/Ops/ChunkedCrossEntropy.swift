import Foundation

/// Causal-LM cross-entropy fused with the lm_head, so the `[tokens, vocab]` logits are never held at once: a
/// dense head on the CPU backend runs in one pass over vocabulary tiles (`singlePassLossAndGradient`), any
/// other head a chunk of tokens at a time (transformers' `ForCausalLMLoss`: mean over the
/// tokens whose label is not `-100`).
public struct ChunkedCrossEntropy: Sendable {
  /// The label that excludes a position from the loss.
  public static let ignoreIndex = -100

  /// The output layer `[vocab, hidden]`.
  public var head: FrozenLinear
  /// Tokens per chunk (chunk logits are `chunkTokens × vocab` floats).
  public var chunkTokens: Int
  /// Tokens per pass over the vocabulary of the single-pass path (a dense head on the CPU backend): each pass
  /// holds `passTokens × (vocabularyTile + hidden)` floats and reads the head's weights once.
  public var passTokens = 256
  /// Vocabulary rows per tile of the single-pass path.
  public var vocabularyTile = 2048
  /// Gemma 2's final logit soft-capping, `z = cap·tanh(l/cap)` before the softmax, or `nil`.
  public var softcap: Float?

  /// Creates the loss.
  ///
  /// - Parameters:
  ///   - head: The lm_head (or the tied embedding matrix).
  ///   - chunkTokens: Tokens per chunk.
  public init(head: FrozenLinear, chunkTokens: Int = 32) {
    self.head = head
    self.chunkTokens = max(1, chunkTokens)
  }

  /// The targets of a causal LM: position `t` predicts `labels[t + 1]`; the last position predicts nothing.
  ///
  /// - Parameter labels: Labels per position (`-100` to ignore).
  /// - Returns: The shifted targets.
  public static func shiftedTargets(_ labels: [Int]) -> [Int] {
    guard !labels.isEmpty else { return [] }
    return Array(labels.dropFirst()) + [ignoreIndex]
  }

  /// The loss and its gradient with respect to the final hidden states.
  ///
  /// - Parameters:
  ///   - hidden: Final-norm outputs `[tokens, hidden]`.
  ///   - targets: One target id per token, `-100` to ignore (already shifted).
  ///   - normalizer: The divisor; `nil` means the number of non-ignored targets (use the accumulation
  ///     window's token count under gradient accumulation).
  /// - Returns: `sum(−log p(target)) / normalizer`, the number of counted tokens and `dL/dhidden`.
  /// - Throws: `QLoRAError` on a size mismatch or a target outside the vocabulary.
  public func lossAndGradient(
    hidden: [Float], targets: [Int], normalizer: Float? = nil
  ) throws(QLoRAError) -> (loss: Float, tokens: Int, hiddenGradient: [Float]) {
    let e = head.inFeatures
    let vocab = head.outFeatures
    try hidden.require(targets.count * e, "cross-entropy hidden states")
    let counted = targets.filter { $0 != Self.ignoreIndex }.count
    for (t, target) in targets.enumerated() where target != Self.ignoreIndex && !(0..<vocab).contains(target) {
      throw .invalidSetting(name: "label at position \(t)", reason: "\(target) is outside the vocabulary of \(vocab)")
    }
    let divisor = normalizer ?? Float(max(counted, 1))
    if let single = try singlePassLossAndGradient(hidden: hidden, targets: targets, divisor: divisor) {
      return (Float(single.lossSum / Double(divisor)), counted, single.hiddenGradient)
    }
    var lossSum: Double = 0
    var gradient = [Float](repeating: 0, count: hidden.count)
    var start = 0
    while start < targets.count {
      let end = min(start + chunkTokens, targets.count)
      defer { start = end }
      let chunkTargets = targets[start..<end]
      if chunkTargets.allSatisfy({ $0 == Self.ignoreIndex }) { continue }
      var logits = try head.forward(Array(hidden[(start * e)..<(end * e)]))
      // Soft-capping keeps tanh(l/cap) to scale the gradient by its derivative 1 − tanh² afterwards.
      var capped: [Float] = []
      if let softcap {
        capped = logits.map { Foundation.tanh($0 / softcap) }
        for i in logits.indices { logits[i] = capped[i] * softcap }
      }
      // Rows are independent: each thread normalises its rows and records their losses; the sum runs in row order.
      let targetsOfChunk = Array(chunkTargets)
      var rowLosses = [Double](repeating: 0, count: targetsOfChunk.count)
      logits.withUnsafeMutableBufferPointer { logits in
        rowLosses.withUnsafeMutableBufferPointer { rowLosses in
          ParallelRanges.run(count: targetsOfChunk.count, threads: head.threads) { rows in
            for row in rows {
              let target = targetsOfChunk[row]
              let values = UnsafeMutableBufferPointer(rebasing: logits[(row * vocab)..<((row + 1) * vocab)])
              if target == Self.ignoreIndex {
                values.update(repeating: 0)
                continue
              }
              var maximum = -Float.infinity
              for j in 0..<vocab { maximum = max(maximum, values[j]) }
              var sum: Float = 0
              for j in 0..<vocab { sum += Foundation.exp(values[j] - maximum) }
              let lse = maximum + Foundation.log(sum)
              rowLosses[row] = Double(lse - values[target])
              for j in 0..<vocab { values[j] = Foundation.exp(values[j] - lse) / divisor }
              values[target] -= 1 / divisor
            }
          }
        }
      }
      for loss in rowLosses { lossSum += loss }
      if softcap != nil { for i in logits.indices { logits[i] *= 1 - capped[i] * capped[i] } }
      let chunkGradient = try head.inputGradient(logits)
      gradient.replaceSubrange((start * e)..<(end * e), with: chunkGradient)
    }
    return (Float(lossSum / Double(divisor)), counted, gradient)
  }
}
