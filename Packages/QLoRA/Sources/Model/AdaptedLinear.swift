/// A frozen projection, optionally with a LoRA adapter: `y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ`.
///
/// The adapter lives in the model's adapter table under ``name``; this type only computes.
struct AdaptedLinear: Sendable {
  /// The frozen base layer (its `name` is the module path, `model.layers.0.self_attn.q_proj`).
  let base: FrozenLinear

  var name: String { base.name }

  /// `y` and, with an adapter, what its backward pass needs.
  ///
  /// - Parameter needsOutput: `false` for a recompute whose output nothing reads (the MLP's down projection
  ///   under gradient checkpointing): the base product is skipped and only the adapter's saved state (drawing
  ///   the same dropout mask) is made; the returned output is empty.
  func forward(
    _ x: [Float], adapter: LoRAAdapter?, generator: inout SeededGenerator?, needsOutput: Bool = true
  ) throws(QLoRAError) -> (output: [Float], saved: LoRAAdapter.Saved?) {
    guard needsOutput else { return ([], try adapter?.prepare(x, generator: &generator, threads: base.threads)) }
    var y = try base.forward(x)
    guard let adapter else { return (y, nil) }
    let saved = try adapter.prepare(x, generator: &generator, threads: base.threads)
    adapter.addOutput(saved, into: &y, threads: base.threads)
    return (y, saved)
  }

  /// `dX = dY·W` plus the adapter's share; accumulates the adapter's gradients.
  func backward(_ dy: [Float], adapter: inout LoRAAdapter?, saved: LoRAAdapter.Saved?) throws(QLoRAError) -> [Float] {
    var dx = try base.inputGradient(dy)
    if var lora = adapter, let saved {
      try lora.backward(dy, saved: saved, addingInto: &dx, threads: base.threads)
      adapter = lora
    }
    return dx
  }
}
