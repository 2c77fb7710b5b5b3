import Foundation

/// The gate/up projections: two linears, or Phi-3's fused `gate_up_proj` (`[gate | up]` per row).
package enum GateUpProjection: Sendable {
  /// `gate_proj` and `up_proj`.
  case separate(gate: any LinearLayer, up: any LinearLayer)
  /// `gate_up_proj`.
  case fused(any LinearLayer)

  /// Every linear, for accounting and adapters.
  package var linears: [any LinearLayer] {
    switch self {
    case .separate(let gate, let up): [gate, up]
    case .fused(let gateUp): [gateUp]
    }
  }
}

/// The gated MLP: `down(act(gate(x)) · up(x))`.
package struct FeedForward: Sendable {
  package let gateUp: GateUpProjection
  /// `down_proj`.
  package let down: any LinearLayer
  package let activation: ModelConfiguration.Activation
  package let intermediateSize: Int

  /// Every linear, in module order.
  package var linears: [any LinearLayer] { gateUp.linears + [down] }

  func forward(
    _ input: UnsafeBufferPointer<Float>, rows: Int, into result: UnsafeMutableBufferPointer<Float>,
    context: ForwardContext
  ) throws(LanguageModelError) {
    let workspace = context.cache.workspace
    let width = intermediateSize
    let hidden = workspace.buffer("mlp.hidden", count: rows * width)
    switch gateUp {
    case .separate(let gate, let up):
      let upValues = workspace.buffer("mlp.up", count: rows * width)
      try context.run(gate, input, rows: rows, into: hidden)
      try context.run(up, input, rows: rows, into: upValues)
      for i in 0..<rows * width { hidden[i] = activate(hidden[i]) * upValues[i] }
    case .fused(let fused):
      let packed = workspace.buffer("mlp.gateUp", count: rows * 2 * width)
      try context.run(fused, input, rows: rows, into: packed)
      for row in 0..<rows {
        for i in 0..<width {
          // transformers: `up_states * act(gate)`.
          hidden[row * width + i] = packed[row * 2 * width + width + i] * activate(packed[row * 2 * width + i])
        }
      }
    }
    try context.run(down, UnsafeBufferPointer(hidden), rows: rows, into: result)
  }

  @inline(__always)
  private func activate(_ x: Float) -> Float {
    switch activation {
    case .silu: return x / (1 + exp(-x))
    case .geluTanh:
      let inner = Float(0.7978845608028654) * (x + 0.044715 * x * x * x)
      return 0.5 * x * (1 + tanh(inner))
    case .gelu: return 0.5 * x * (1 + erf(x / Float(2).squareRoot()))
    }
  }
}
