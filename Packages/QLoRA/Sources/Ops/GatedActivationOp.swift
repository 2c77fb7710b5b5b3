import Foundation

/// The gated product of the MLP, `h = act(a) ⊙ b` (`a` = gate_proj, `b` = up_proj), with its backward pass:
/// SiLU (Llama), or GELU with the tanh approximation (Gemma's `gelu_pytorch_tanh`) or exact.
public enum GatedActivationOp {
  /// The gate's activation.
  public enum Activation: Sendable {
    case silu
    /// `0.5·a·(1 + tanh(√(2/π)·(a + 0.044715·a³)))`.
    case geluTanh
    /// `0.5·a·(1 + erf(a/√2))`.
    case gelu
  }

  /// `act(a) ⊙ b` elementwise.
  ///
  /// - Parameters:
  ///   - gate: `a`.
  ///   - up: `b`, the same size.
  ///   - activation: The gate's activation.
  ///   - threads: Elements are split over this many threads (the result does not depend on it).
  /// - Returns: `h`.
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  public static func forward(
    gate: [Float], up: [Float], activation: Activation, threads: Int = 1
  ) throws(QLoRAError) -> [Float] {
    guard activation != .silu else { return try forward(gate: gate, up: up, threads: threads) }
    try up.require(gate.count, "gated MLP up projection")
    return (0..<gate.count).map { i in value(gate[i], activation) * up[i] }
  }

  /// `da = dh⊙b⊙act'(a)`, `db = dh⊙act(a)`.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dh`.
  ///   - gate: The forward `a`.
  ///   - up: The forward `b`.
  ///   - activation: The gate's activation.
  ///   - threads: Elements are split over this many threads (the result does not depend on it).
  /// - Returns: `(dGate, dUp)`.
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  public static func backward(
    _ outputGradient: [Float], gate: [Float], up: [Float], activation: Activation, threads: Int = 1
  ) throws(QLoRAError) -> (dGate: [Float], dUp: [Float]) {
    guard activation != .silu else { return try backward(outputGradient, gate: gate, up: up, threads: threads) }
    try up.require(gate.count, "gated MLP up projection")
    try outputGradient.require(gate.count, "gated MLP output gradient")
    var dGate = [Float](repeating: 0, count: gate.count)
    var dUp = dGate
    for i in 0..<gate.count {
      let a = gate[i]
      let derivative: Float
      switch activation {
      case .geluTanh:
        let c: Float = 0.7978845608028654
        let t = Foundation.tanh(c * (a + 0.044715 * a * a * a))
        derivative = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * c * (1 + 3 * 0.044715 * a * a)
      case .gelu:
        derivative = 0.5 * (1 + Foundation.erf(a / Float(2).squareRoot())) + a * Foundation.exp(-a * a / 2) * 0.3989422804014327
      case .silu:
        derivative = 0
      }
      dGate[i] = outputGradient[i] * up[i] * derivative
      dUp[i] = outputGradient[i] * value(a, activation)
    }
    return (dGate, dUp)
  }

  /// The activation's value, with the runtime's formulas.
  static func value(_ a: Float, _ activation: Activation) -> Float {
    switch activation {
    case .silu: silu(a)
    case .geluTanh: 0.5 * a * (1 + Foundation.tanh(Float(0.7978845608028654) * (a + 0.044715 * a * a * a)))
    case .gelu: 0.5 * a * (1 + Foundation.erf(a / Float(2).squareRoot()))
    }
  }

  /// `silu(a) ⊙ b` elementwise.
  ///
  /// - Parameters:
  ///   - gate: `a`.
  ///   - up: `b`, the same size.
  ///   - threads: Elements are split over this many threads (the result does not depend on it).
  /// - Returns: `h`.
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  public static func forward(gate: [Float], up: [Float], threads: Int = 1) throws(QLoRAError) -> [Float] {
    try up.require(gate.count, "gated MLP up projection")
    return ParallelRanges.filled(count: gate.count, threads: threads) { range, out in
      for i in range { out[i] = silu(gate[i]) * up[i] }
    }
  }

  /// `da = dh⊙b⊙silu'(a)` with `silu'(a) = σ(a)(1 + a(1−σ(a)))`, and `db = dh⊙silu(a)`.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dh`.
  ///   - gate: The forward `a`.
  ///   - up: The forward `b`.
  ///   - threads: Elements are split over this many threads (the result does not depend on it).
  /// - Returns: `(dGate, dUp)`.
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  public static func backward(
    _ outputGradient: [Float], gate: [Float], up: [Float], threads: Int = 1
  ) throws(QLoRAError) -> (dGate: [Float], dUp: [Float]) {
    try up.require(gate.count, "gated MLP up projection")
    try outputGradient.require(gate.count, "gated MLP output gradient")
    var dUp = [Float](repeating: 0, count: gate.count)
    let dGate = dUp.withUnsafeMutableBufferPointer { dUp in
      nonisolated(unsafe) let dUp = dUp
      return ParallelRanges.filled(count: gate.count, threads: threads) { range, dGate in
        for i in range {
          let a = gate[i]
          let sigma = 1 / (1 + Foundation.exp(-a))
          dGate[i] = outputGradient[i] * up[i] * sigma * (1 + a * (1 - sigma))
          dUp[i] = outputGradient[i] * a * sigma
        }
      }
    }
    return (dGate, dUp)
  }

  /// ``backward(_:gate:up:activation:threads:)`` written over its inputs, which the backward pass no longer needs:
  /// `gate` becomes `dGate` and `up` becomes `dUp` (no new `[tokens, intermediate]` arrays at the step's memory
  /// peak); the same bits.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dh`.
  ///   - gate: The forward `a`; on return, `dGate`.
  ///   - up: The forward `b`; on return, `dUp`.
  ///   - activation: The gate's activation.
  ///   - threads: Elements are split over this many threads (the result does not depend on it).
  /// - Throws: `QLoRAError.shapeMismatch` when the sizes differ.
  static func backward(
    _ outputGradient: [Float], replacing gate: inout [Float], and up: inout [Float], activation: Activation,
    threads: Int = 1
  ) throws(QLoRAError) {
    guard activation == .silu else {
      (gate, up) = try backward(outputGradient, gate: gate, up: up, activation: activation, threads: threads)
      return
    }
    try up.require(gate.count, "gated MLP up projection")
    try outputGradient.require(gate.count, "gated MLP output gradient")
    gate.withUnsafeMutableBufferPointer { gate in
      up.withUnsafeMutableBufferPointer { up in
        nonisolated(unsafe) let (gate, up) = (gate, up)
        ParallelRanges.run(count: gate.count, threads: threads, minimum: 1 << 14) { range in
          for i in range {
            let a = gate[i]
            let b = up[i]
            let sigma = 1 / (1 + Foundation.exp(-a))
            gate[i] = outputGradient[i] * b * sigma * (1 + a * (1 - sigma))
            up[i] = outputGradient[i] * a * sigma
          }
        }
      }
    }
  }

  /// `a·σ(a)`.
  @inline(__always)
  static func silu(_ a: Float) -> Float { a / (1 + Foundation.exp(-a)) }
}
