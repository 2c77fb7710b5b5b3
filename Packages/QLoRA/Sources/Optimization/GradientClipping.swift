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
    let norm = globalNorm(gradients)
    let coefficient = min(1, maxNorm / (norm + 1e-6))
    // Scaling by 1 changes no value: the buffers are left as they are.
    guard coefficient != 1 else { return norm }
    for index in gradients.indices {
      gradients[index].withUnsafeMutableBufferPointer { buffer in
        for i in buffer.indices { buffer[i] *= coefficient }
      }
    }
    return norm
  }

  /// The global L2 norm of all the buffers together, as ``clipGlobalNorm(_:maxNorm:)`` measures it.
  ///
  /// - Parameter gradients: The gradient buffers.
  /// - Returns: `‖g‖₂` over every value.
  public static func globalNorm(_ gradients: [[Float]]) -> Float {
    var squares: Double = 0
    for buffer in gradients {
      // torch takes the norm of each tensor in float32, then the norm of those norms.
      var local: Float = 0
      for value in buffer { local += value * value }
      squares += Double(local)
    }
    return Float(squares.squareRoot())
  }
}
