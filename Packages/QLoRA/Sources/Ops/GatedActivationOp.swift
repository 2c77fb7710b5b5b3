import Foundation

/// The SiLU-gated product of Llama's MLP, `h = silu(a) ⊙ b` (`a` = gate_proj, `b` = up_proj), with its
/// backward pass.
public enum GatedActivationOp {
  /// `silu(a) ⊙ b` elementwise.
  ///
  /// - Parameters:
  ///   - gate: `a`.
  ///   - up: `b`, the same size.
  /// - Returns: `h`.
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  public static func forward(gate: [Float], up: [Float]) throws(QLoRAError) -> [Float] {
    try up.require(gate.count, "gated MLP up projection")
    return (0..<gate.count).map { i in silu(gate[i]) * up[i] }
  }

  /// `da = dh⊙b⊙silu'(a)` with `silu'(a) = σ(a)(1 + a(1−σ(a)))`, and `db = dh⊙silu(a)`.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dh`.
  ///   - gate: The forward `a`.
  ///   - up: The forward `b`.
  /// - Returns: `(dGate, dUp)`.
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  public static func backward(
    _ outputGradient: [Float], gate: [Float], up: [Float]
  ) throws(QLoRAError) -> (dGate: [Float], dUp: [Float]) {
    try up.require(gate.count, "gated MLP up projection")
    try outputGradient.require(gate.count, "gated MLP output gradient")
    var dGate = [Float](repeating: 0, count: gate.count)
    var dUp = dGate
    for i in 0..<gate.count {
      let a = gate[i]
      let sigma = 1 / (1 + Foundation.exp(-a))
      dGate[i] = outputGradient[i] * up[i] * sigma * (1 + a * (1 - sigma))
      dUp[i] = outputGradient[i] * a * sigma
    }
    return (dGate, dUp)
  }

  /// `a·σ(a)`.
  @inline(__always)
  static func silu(_ a: Float) -> Float { a / (1 + Foundation.exp(-a)) }
}
