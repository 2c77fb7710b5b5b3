import Foundation

/// The arithmetic the processors and the sampler share.
enum LogitsMath {
  /// Softmax in the order torch computes it: `exp(x - max) / sum`, the sum accumulated in `Double`.
  /// `-inf` entries get probability 0; an all-`-inf` input gives all zeros.
  static func softmax(_ logits: [Float]) -> [Float] {
    guard let maximum = logits.max(), maximum > -.infinity else { return [Float](repeating: 0, count: logits.count) }
    var exponentials = logits.map { Float(exp(Double($0 - maximum))) }
    let sum = exponentials.reduce(0.0) { $0 + Double($1) }
    let scale = Float(1 / sum)
    for index in exponentials.indices { exponentials[index] *= scale }
    return exponentials
  }

  /// The `k`-th largest value (1-based) of `values`; `k` must be in `1...values.count`.
  static func kthLargest(_ values: [Float], _ k: Int) -> Float {
    values.sorted(by: >)[k - 1]
  }

  /// The index of the largest value, the first one among equals (as `torch.argmax`); -1 when empty.
  static func argmax(_ values: [Float]) -> Int {
    var best = -1
    var bestValue = -Float.infinity
    for (index, value) in values.enumerated() where best < 0 || value > bestValue {
      best = index
      bestValue = value
    }
    return best
  }
}
