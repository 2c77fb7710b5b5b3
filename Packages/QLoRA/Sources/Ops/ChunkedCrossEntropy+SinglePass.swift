import CPUKernels
import Foundation
import QuantCore

extension ChunkedCrossEntropy {
  /// The loss and gradient in one pass over a dense lm_head on the CPU backend, with an online softmax: for each
  /// tile of ``vocabularyTile`` vocabulary rows, the tile's logits of up to ``passTokens`` tokens, then each
  /// row's running maximum and sum of `exp(logit − maximum)` (rescaled when the maximum grows), then
  /// `A += exp(logits − maximum)·W[tile]`; at the end `dX = (A / sum − W[target]) / normalizer` per token.
  ///
  /// W is read once per pass (twice per tile, back to back) instead of twice per chunk of ``chunkTokens``
  /// tokens, no `[tokens, vocab]` slice of the logits is held, and ignored positions cost nothing. The
  /// results equal the chunked path's up to float32 rounding (a different order of the same sums) and do not
  /// depend on the thread count, ``passTokens`` or how the positions are ignored.
  ///
  /// - Returns: `nil` when the head is not dense on the CPU backend (the chunked path then runs).
  func singlePassLossAndGradient(
    hidden: [Float], targets: [Int], divisor: Float
  ) throws(QLoRAError) -> (lossSum: Double, hiddenGradient: [Float])? {
    try head.withDenseCPUWeights { (cpu, weights, dtype) throws(QLoRAError) in
      let rows = targets.indices.filter { targets[$0] != Self.ignoreIndex }
      var lossSum: Double = 0
      var gradient = [Float](repeating: 0, count: hidden.count)
      var start = 0
      while start < rows.count {
        let group = Array(rows[start..<min(start + max(1, passTokens), rows.count)])
        start += group.count
        let (losses, rowGradients) = pass(
          rows: group, hidden: hidden, targets: targets, cpu: cpu, weights: weights, dtype: dtype, divisor: divisor)
        let e = head.inFeatures
        for (index, row) in group.enumerated() {
          lossSum += losses[index]
          gradient.replaceSubrange((row * e)..<((row + 1) * e), with: rowGradients[(index * e)..<((index + 1) * e)])
        }
      }
      return (lossSum, gradient)
    }
  }

  /// One pass over the vocabulary for `rows` (positions with a target): their losses and `dL/dhidden`.
  private func pass(
    rows: [Int], hidden: [Float], targets: [Int], cpu: CPUBackend, weights: UnsafeRawBufferPointer, dtype: DType,
    divisor: Float
  ) -> (losses: [Double], gradient: [Float]) {
    let e = head.inFeatures
    let vocab = head.outFeatures
    let m = rows.count
    let tile = max(1, min(vocabularyTile, vocab))
    let elementSize = dtype.byteSize
    let threads = head.threads
    let softcap = self.softcap
    let bias = head.bias
    var x = [Float](repeating: 0, count: m * e)
    for (index, row) in rows.enumerated() {
      x.replaceSubrange((index * e)..<((index + 1) * e), with: hidden[(row * e)..<((row + 1) * e)])
    }
    let rowTargets = rows.map { targets[$0] }
    var maxima = [Float](repeating: -.infinity, count: m)
    var sums = [Float](repeating: 0, count: m)
    var targetLogits = [Float](repeating: 0, count: m)
    // With soft-capping, the target's d(capped)/d(logit) = 1 − tanh², which scales its one-hot term.
    var targetSlopes = [Float](repeating: 1, count: m)
    var accumulated = [Float](repeating: 0, count: m * e)
    var logits = [Float](repeating: 0, count: m * tile)
    guard let base = weights.baseAddress else { return ([Double](repeating: 0, count: m), accumulated) }
    x.withUnsafeBufferPointer { x in
      logits.withUnsafeMutableBufferPointer { logits in
        accumulated.withUnsafeMutableBufferPointer { accumulated in
          guard let xp = x.baseAddress, let lp = logits.baseAddress, let ap = accumulated.baseAddress else { return }
          nonisolated(unsafe) let (l, a) = (lp, ap)
          var first = 0
          while first < vocab {
            let count = min(tile, vocab - first)
            let w = base + first * e * elementSize
            cpu.productWithRowMajorWeights(
              x: xp, m: m, weight: w, dtype: dtype, n: count, k: e, into: lp, packedForAnyRows: true)
            // Rows are independent: each thread updates its rows' statistics, exponentials and accumulators.
            maxima.withUnsafeMutableBufferPointer { maxima in
              sums.withUnsafeMutableBufferPointer { sums in
                targetLogits.withUnsafeMutableBufferPointer { targetLogits in
                  targetSlopes.withUnsafeMutableBufferPointer { targetSlopes in
                    nonisolated(unsafe) let (maxima, sums, targetLogits, targetSlopes) = (
                      maxima, sums, targetLogits, targetSlopes
                    )
                    ParallelRanges.run(count: m, threads: threads, minimum: 4) { range in
                      let slopes = softcap.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: count) }
                      defer { slopes?.deallocate() }
                      for r in range {
                        let values = l + r * count
                        if let bias { for j in 0..<count { values[j] += bias[first + j] } }
                        if let softcap {
                          for j in 0..<count {
                            let t = Foundation.tanh(values[j] / softcap)
                            values[j] = t * softcap
                            slopes?[j] = 1 - t * t
                          }
                        }
                        let target = rowTargets[r] - first
                        if (0..<count).contains(target) {
                          targetLogits[r] = values[target]
                          targetSlopes[r] = slopes?[target] ?? 1
                        }
                        var tileMaximum = -Float.infinity
                        for j in 0..<count { tileMaximum = max(tileMaximum, values[j]) }
                        if tileMaximum > maxima[r] {
                          let scale = maxima[r] == -.infinity ? 0 : Foundation.exp(maxima[r] - tileMaximum)
                          sums[r] *= scale
                          let row = a + r * e
                          for c in 0..<e { row[c] *= scale }
                          maxima[r] = tileMaximum
                        }
                        let maximum = maxima[r]
                        var sum: Float = 0
                        for j in 0..<count {
                          let exponential = Foundation.exp(values[j] - maximum)
                          sum += exponential
                          values[j] = slopes.map { exponential * $0[j] } ?? exponential
                        }
                        sums[r] += sum
                      }
                    }
                  }
                }
              }
            }
            cpu.productWithKMajorWeights(
              x: lp, m: m, weight: w, dtype: dtype, ldw: e, n: e, k: count, into: ap, accumulate: true)
            first += count
          }
        }
      }
    }
    var losses = [Double](repeating: 0, count: m)
    var targetRow = [Float](repeating: 0, count: e)
    for r in 0..<m {
      let logSumExp = maxima[r] + Foundation.log(sums[r])
      losses[r] = Double(logSumExp - targetLogits[r])
      let target = rowTargets[r]
      targetRow.withUnsafeMutableBufferPointer { row in
        ElementConversion.load(
          UnsafeRawBufferPointer(rebasing: weights[(target * e * elementSize)..<((target + 1) * e * elementSize)]),
          as: dtype, into: row)
      }
      let inverse = 1 / sums[r]
      for c in 0..<e {
        accumulated[r * e + c] = (accumulated[r * e + c] * inverse - targetSlopes[r] * targetRow[c]) / divisor
      }
    }
    return (losses, accumulated)
  }
}
