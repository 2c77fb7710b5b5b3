/// One Llama-family decoder block for training: forward with the activations its backward pass needs,
/// and the backward pass through norms, RoPE, causal GQA attention, the SiLU-gated MLP and residuals.
struct TrainingBlock: Sendable {
  let inputNorm: RMSNormOp
  let postAttentionNorm: RMSNormOp
  let query: AdaptedLinear
  let key: AdaptedLinear
  let value: AdaptedLinear
  let output: AdaptedLinear
  let gate: AdaptedLinear
  let up: AdaptedLinear
  let down: AdaptedLinear
  let attention: CausalAttentionOp
  /// Qwen3's RMSNorm over each query head / key head (before RoPE), or `nil`.
  var queryNorm: RMSNormOp? = nil
  var keyNorm: RMSNormOp? = nil

  /// The block's linears in PEFT order.
  var linears: [AdaptedLinear] { [query, key, value, output, gate, up, down] }

  /// Everything the backward pass reads (recomputed from the block input under checkpointing).
  struct Activations {
    var x: [Float]
    var normed1: [Float]
    var inverse1: [Float]
    var q: [Float]
    var k: [Float]
    /// The projections before the q/k norms, and their inverse RMS (empty without norms).
    var qProjected: [Float] = []
    var kProjected: [Float] = []
    var qInverse: [Float] = []
    var kInverse: [Float] = []
    var v: [Float]
    var attention: CausalAttentionOp.Saved
    var h: [Float]
    var normed2: [Float]
    var inverse2: [Float]
    var gateOut: [Float]
    var upOut: [Float]
    var product: [Float]
    var saved: [String: LoRAAdapter.Saved]
  }

  func forward(
    _ x: [Float], rope: RotaryEmbeddingOp, adapters: [String: LoRAAdapter], generator: inout SeededGenerator?
  ) throws(QLoRAError) -> (output: [Float], activations: Activations) {
    var saved = [String: LoRAAdapter.Saved]()
    func run(_ linear: AdaptedLinear, _ input: [Float], _ generator: inout SeededGenerator?) throws(QLoRAError) -> [Float] {
      let result = try linear.forward(input, adapter: adapters[linear.name], generator: &generator)
      if let state = result.saved { saved[linear.name] = state }
      return result.output
    }
    let (normed1, inverse1) = try inputNorm.forward(x)
    let qProjected = try run(query, normed1, &generator)
    let kProjected = try run(key, normed1, &generator)
    // Qwen3: each head vector is RMS-normalised (weight [headDim]) before RoPE.
    let qNormed = try queryNorm?.forward(qProjected)
    let kNormed = try keyNorm?.forward(kProjected)
    let q = try rope.forward(qNormed?.output ?? qProjected, heads: attention.heads)
    let k = try rope.forward(kNormed?.output ?? kProjected, heads: attention.kvHeads)
    let v = try run(value, normed1, &generator)
    let attended = try attention.forward(q: q, k: k, v: v)
    let projected = try run(output, attended.output, &generator)
    let h = zip(x, projected).map { $0 + $1 }
    let (normed2, inverse2) = try postAttentionNorm.forward(h)
    let gateOut = try run(gate, normed2, &generator)
    let upOut = try run(up, normed2, &generator)
    let product = try GatedActivationOp.forward(gate: gateOut, up: upOut)
    let mlp = try run(down, product, &generator)
    let out = zip(h, mlp).map { $0 + $1 }
    var activations = Activations(
      x: x, normed1: normed1, inverse1: inverse1, q: q, k: k, v: v, attention: attended, h: h, normed2: normed2,
      inverse2: inverse2, gateOut: gateOut, upOut: upOut, product: product, saved: saved)
    if let qNormed, let kNormed {
      (activations.qProjected, activations.qInverse) = (qProjected, qNormed.inverseRMS)
      (activations.kProjected, activations.kInverse) = (kProjected, kNormed.inverseRMS)
    }
    return (out, activations)
  }

  func backward(
    _ dOut: [Float], activations a: Activations, rope: RotaryEmbeddingOp, adapters: inout [String: LoRAAdapter]
  ) throws(QLoRAError) -> [Float] {
    func back(_ linear: AdaptedLinear, _ dy: [Float]) throws(QLoRAError) -> [Float] {
      var adapter = adapters[linear.name]
      let dx = try linear.backward(dy, adapter: &adapter, saved: a.saved[linear.name])
      if let adapter { adapters[linear.name] = adapter }
      return dx
    }
    // MLP branch.
    let dProduct = try back(down, dOut)
    let (dGate, dUp) = try GatedActivationOp.backward(dProduct, gate: a.gateOut, up: a.upOut)
    let dGateIn = try back(gate, dGate)
    let dUpIn = try back(up, dUp)
    let dNormed2 = zip(dGateIn, dUpIn).map { $0 + $1 }
    let dNorm2 = try postAttentionNorm.backward(dNormed2, x: a.h, inverseRMS: a.inverse2)
    let dh = zip(dOut, dNorm2).map { $0 + $1 }
    // Attention branch.
    let dAttended = try back(output, dh)
    let grads = try attention.backward(dAttended, q: a.q, k: a.k, v: a.v, saved: a.attention)
    var dqNormed = try rope.backward(grads.dq, heads: attention.heads)
    var dkNormed = try rope.backward(grads.dk, heads: attention.kvHeads)
    if let queryNorm, let keyNorm {
      dqNormed = try queryNorm.backward(dqNormed, x: a.qProjected, inverseRMS: a.qInverse)
      dkNormed = try keyNorm.backward(dkNormed, x: a.kProjected, inverseRMS: a.kInverse)
    }
    let dq = try back(query, dqNormed)
    let dk = try back(key, dkNormed)
    let dv = try back(value, grads.dv)
    var dNormed1 = dq
    for i in dNormed1.indices { dNormed1[i] += dk[i] + dv[i] }
    let dNorm1 = try inputNorm.backward(dNormed1, x: a.x, inverseRMS: a.inverse1)
    return zip(dh, dNorm1).map { $0 + $1 }
  }
}
