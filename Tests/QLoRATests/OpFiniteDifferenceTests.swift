import CPUKernels
import QLoRA
import Testing

@Suite("Training ops against finite differences")
struct OpFiniteDifferenceTests {
  @Test func rmsNorm() throws {
    var rng = SeededGenerator(seed: 1)
    let op = RMSNormOp(weight: GradientCheck.random(12, &rng), epsilon: 1e-6)
    let x = GradientCheck.random(5 * 12, &rng)
    let g = GradientCheck.random(x.count, &rng)
    let forward = try op.forward(x)
    let dx = try op.backward(g, x: x, inverseRMS: forward.inverseRMS)
    let error = try GradientCheck.worstError(at: x, gradient: dx) { GradientCheck.dot(g, try op.forward($0).output) }
    #expect(error < 1e-2)
  }

  @Test func rotaryEmbedding() throws {
    var rng = SeededGenerator(seed: 2)
    let op = try RotaryEmbeddingOp(positions: 9, headDim: 8, theta: 10000)
    let x = GradientCheck.random(6 * 3 * 8, &rng)
    let g = GradientCheck.random(x.count, &rng)
    let dx = try op.backward(g, heads: 3, firstPosition: 2)
    let error = try GradientCheck.worstError(at: x, gradient: dx) {
      GradientCheck.dot(g, try op.forward($0, heads: 3, firstPosition: 2))
    }
    #expect(error < 1e-2)
  }

  /// Partial rotary (Phi-4-mini's `partial_rotary_factor`): 4 of 8 features rotate with scaled tables; the
  /// other 4 pass through, their gradient unchanged.
  @Test func partialRotaryEmbedding() throws {
    var rng = SeededGenerator(seed: 3)
    let op = try RotaryEmbeddingOp(positions: 9, headDim: 8, inverseFrequencies: [0.9, 0.05], attentionScaling: 1.2)
    #expect(op.rotaryDim == 4)
    let x = GradientCheck.random(6 * 3 * 8, &rng)
    let g = GradientCheck.random(x.count, &rng)
    let y = try op.forward(x, heads: 3, firstPosition: 2)
    let dx = try op.backward(g, heads: 3, firstPosition: 2)
    let error = try GradientCheck.worstError(at: x, gradient: dx) {
      GradientCheck.dot(g, try op.forward($0, heads: 3, firstPosition: 2))
    }
    #expect(error < 1e-2)
    for index in x.indices where index % 8 >= 4 {
      #expect(y[index] == x[index] && dx[index] == g[index])
    }
    #expect((0..<x.count).contains { $0 % 8 < 4 && y[$0] != x[$0] })
  }

  /// Full attention, a sliding window of 3 (Mistral, Gemma 2) and soft-capped scores (Gemma 2), in one block
  /// of queries and in blocks of 2 and 3 (so that blocks start past the first key and windows cross blocks).
  @Test(
    arguments: [
      (4, 2, nil, nil, 32), (4, 4, nil, nil, 32), (4, 1, nil, nil, 32), (4, 2, 3, nil, 32), (4, 2, 3, 0.7, 32),
      (4, 2, nil, nil, 2), (4, 1, 3, nil, 2), (4, 2, 3, 0.7, 3), (4, 4, 2, nil, 3),
    ] as [(Int, Int, Int?, Float?, Int)])
  func causalAttention(heads: Int, kvHeads: Int, window: Int?, softcap: Float?, queryBlock: Int) throws {
    var rng = SeededGenerator(seed: UInt64(10 + heads * kvHeads))
    var op = try CausalAttentionOp(heads: heads, kvHeads: kvHeads, headDim: 6)
    op.window = window
    op.softcap = softcap
    op.queryBlock = queryBlock
    let t = 7
    let q = GradientCheck.random(t * heads * 6, &rng)
    let k = GradientCheck.random(t * kvHeads * 6, &rng)
    let v = GradientCheck.random(t * kvHeads * 6, &rng)
    let g = GradientCheck.random(q.count, &rng)
    let saved = try op.forward(q: q, k: k, v: v)
    let grads = try op.backward(g, q: q, k: k, v: v, saved: saved)
    let errorQ = try GradientCheck.worstError(at: q, gradient: grads.dq) {
      GradientCheck.dot(g, try op.forward(q: $0, k: k, v: v).output)
    }
    let errorK = try GradientCheck.worstError(at: k, gradient: grads.dk) {
      GradientCheck.dot(g, try op.forward(q: q, k: $0, v: v).output)
    }
    let errorV = try GradientCheck.worstError(at: v, gradient: grads.dv) {
      GradientCheck.dot(g, try op.forward(q: q, k: k, v: $0).output)
    }
    #expect(errorQ < 1e-2)
    #expect(errorK < 1e-2)
    #expect(errorV < 1e-2)
  }

  /// GELU gates (Gemma's tanh approximation, exact GELU) the same way as SiLU below.
  @Test(arguments: [GatedActivationOp.Activation.geluTanh, .gelu])
  func geluGatedActivation(_ activation: GatedActivationOp.Activation) throws {
    var rng = SeededGenerator(seed: 4)
    let a = GradientCheck.random(40, &rng, scale: 3)
    let b = GradientCheck.random(40, &rng, scale: 3)
    let g = GradientCheck.random(40, &rng)
    let grads = try GatedActivationOp.backward(g, gate: a, up: b, activation: activation)
    let errorA = try GradientCheck.worstError(at: a, gradient: grads.dGate) {
      GradientCheck.dot(g, try GatedActivationOp.forward(gate: $0, up: b, activation: activation))
    }
    let errorB = try GradientCheck.worstError(at: b, gradient: grads.dUp) {
      GradientCheck.dot(g, try GatedActivationOp.forward(gate: a, up: $0, activation: activation))
    }
    #expect(errorA < 1e-2)
    #expect(errorB < 1e-2)
  }

  @Test func gatedActivation() throws {
    var rng = SeededGenerator(seed: 3)
    let a = GradientCheck.random(40, &rng, scale: 3)
    let b = GradientCheck.random(40, &rng, scale: 3)
    let g = GradientCheck.random(40, &rng)
    let grads = try GatedActivationOp.backward(g, gate: a, up: b)
    let errorA = try GradientCheck.worstError(at: a, gradient: grads.dGate) {
      GradientCheck.dot(g, try GatedActivationOp.forward(gate: $0, up: b))
    }
    let errorB = try GradientCheck.worstError(at: b, gradient: grads.dUp) {
      GradientCheck.dot(g, try GatedActivationOp.forward(gate: a, up: $0))
    }
    #expect(errorA < 1e-2)
    #expect(errorB < 1e-2)
  }

  @Test func frozenLinearInputGradient() throws {
    var rng = SeededGenerator(seed: 4)
    let layer = try FrozenLinear(
      name: "w", weight: .dense(GradientCheck.random(11 * 7, &rng)), inFeatures: 7, outFeatures: 11,
      bias: GradientCheck.random(11, &rng), tileRows: 4)
    let x = GradientCheck.random(3 * 7, &rng)
    let g = GradientCheck.random(3 * 11, &rng)
    let dx = try layer.inputGradient(g)
    let error = try GradientCheck.worstError(at: x, gradient: dx) { GradientCheck.dot(g, try layer.forward($0)) }
    #expect(error < 1e-2)
  }

  /// Plain, and with Gemma 2's final logit soft-capping; chunked (no backend), and in one pass over vocabulary
  /// tiles (the CPU backend).
  @Test(arguments: [nil, 0.8] as [Float?], [false, true])
  func chunkedCrossEntropy(softcap: Float?, singlePass: Bool) throws {
    var rng = SeededGenerator(seed: 5)
    var head = try FrozenLinear(
      name: "lm_head", weight: .dense(GradientCheck.random(13 * 6, &rng)), inFeatures: 6, outFeatures: 13, tileRows: 5)
    if singlePass { head.backend = CPUBackend(threads: 1) }
    var loss = ChunkedCrossEntropy(head: head, chunkTokens: 2)
    loss.vocabularyTile = 4
    loss.softcap = softcap
    let hidden = GradientCheck.random(5 * 6, &rng)
    let targets = [3, -100, 12, 0, -100]
    let result = try loss.lossAndGradient(hidden: hidden, targets: targets)
    #expect(result.tokens == 3)
    // The ignored rows get no gradient.
    #expect(result.hiddenGradient[6..<12].allSatisfy { $0 == 0 })
    let error = try GradientCheck.worstError(at: hidden, gradient: result.hiddenGradient) {
      Double(try loss.lossAndGradient(hidden: $0, targets: targets).loss)
    }
    #expect(error < 1e-2)
  }

  @Test func loraAdapter() throws {
    var rng = SeededGenerator(seed: 6)
    let configuration = LoRAConfiguration(rank: 3, alpha: 6)
    var adapter = try LoRAAdapter(
      a: GradientCheck.random(3 * 5, &rng), b: GradientCheck.random(7 * 3, &rng), inFeatures: 5, outFeatures: 7,
      configuration: configuration)
    let x = GradientCheck.random(4 * 5, &rng)
    let g = GradientCheck.random(4 * 7, &rng)
    var noDropout: SeededGenerator? = nil
    let forward = try adapter.forward(x, generator: &noDropout)
    let dx = try adapter.backward(g, saved: forward.saved)
    let frozen = adapter
    func loss(a: [Float], b: [Float], x: [Float]) throws -> Double {
      let probe = try LoRAAdapter(a: a, b: b, inFeatures: 5, outFeatures: 7, configuration: configuration)
      var none: SeededGenerator? = nil
      return GradientCheck.dot(g, try probe.forward(x, generator: &none).output)
    }
    let errorX = try GradientCheck.worstError(at: x, gradient: dx) { try loss(a: frozen.a, b: frozen.b, x: $0) }
    let errorA = try GradientCheck.worstError(at: frozen.a, gradient: frozen.gradientA) {
      try loss(a: $0, b: frozen.b, x: x)
    }
    let errorB = try GradientCheck.worstError(at: frozen.b, gradient: frozen.gradientB) {
      try loss(a: frozen.a, b: $0, x: x)
    }
    #expect(errorX < 1e-2)
    #expect(errorA < 1e-2)
    #expect(errorB < 1e-2)
  }
}
