/// Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.
public enum GradientClipping {
  /// Scales every gradient by `min(1, maxNorm / (‖g‖₂ + 1e-6))` over all buffers together.
  ///
  /// - Parameters:
  ///   - gradients: The gradient buffers, scaled in place.
  ///   - maxNorm: The largest allowed global norm.
  /// - Returns: The global norm before clipping.
  @discardableResult
  public static func clipGlobalNorm(_ gradients: inout [[Float]], maxNorm: Float) -> Float {
    var squares: Double = 0
    for buffer in gradients {
      // torch takes the norm of each tensor in float32, then the norm of those norms.
      var local: Float = 0
      for value in buffer { local += value * value }
      squares += Double(local)
    }
    let norm = Float(squares.squareRoot())
    let coefficient = min(1, maxNorm / (norm + 1e-6))
    for index in gradients.indices {
      for i in gradients[index].indices { gradients[index][i] *= coefficient }
    }
    return norm
  }
}
