/// Root-mean-square normalization in float32, as transformers computes it: `x · rsqrt(mean(x²) + ε)`
/// times `weight` (Llama family) or `1 + weight` (Gemma).
package struct RMSNorm: Sendable {
  /// The module path (`model.layers.0.input_layernorm`).
  package let name: String
  /// The multiplier per feature (for Gemma already `1 + weight`).
  package let scale: [Float]
  /// `rms_norm_eps`.
  package let epsilon: Float

  package init(name: String, weight: [Float], epsilon: Double, addsOne: Bool) {
    self.name = name
    self.scale = addsOne ? weight.map { 1 + $0 } : weight
    self.epsilon = Float(epsilon)
  }

  /// Normalizes `rows` rows of `scale.count` features from `input` into `output` (may be the same buffer).
  package func apply(_ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>) {
    let width = scale.count
    scale.withUnsafeBufferPointer { weight in
      for row in 0..<rows {
        let x = input + row * width
        let y = output + row * width
        var sum: Double = 0
        for i in 0..<width { sum += Double(x[i]) * Double(x[i]) }
        let mean = Float(sum / Double(width))
        let inverse = 1 / (mean + epsilon).squareRoot()
        for i in 0..<width { y[i] = weight[i] * (x[i] * inverse) }
      }
    }
  }
}
