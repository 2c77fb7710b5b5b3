/// A frozen projection, optionally with a LoRA adapter: `y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ`.
///
/// The adapter lives in the model's adapter table under ``name``; this type only computes.
struct AdaptedLinear: Sendable {
  /// The frozen base layer (its `name` is the module path, `model.layers.0.self_attn.q_proj`).
  let base: FrozenLinear

  var name: String { base.name }

  /// `y` and, with an adapter, what its backward pass needs.
  func forward(
    _ x: [Float], adapter: LoRAAdapter?, generator: inout SeededGenerator?
  ) throws(QLoRAError) -> (output: [Float], saved: LoRAAdapter.Saved?) {
    var y = try base.forward(x)
    guard let adapter else { return (y, nil) }
    let delta = try adapter.forward(x, generator: &generator)
    for i in y.indices { y[i] += delta.output[i] }
    return (y, delta.saved)
  }

  /// `dX = dY·W` plus the adapter's share; accumulates the adapter's gradients.
  func backward(_ dy: [Float], adapter: inout LoRAAdapter?, saved: LoRAAdapter.Saved?) throws(QLoRAError) -> [Float] {
    var dx = try base.inputGradient(dy)
    if var lora = adapter, let saved {
      let share = try lora.backward(dy, saved: saved)
      for i in dx.indices { dx[i] += share[i] }
      adapter = lora
    }
    return dx
  }
}
