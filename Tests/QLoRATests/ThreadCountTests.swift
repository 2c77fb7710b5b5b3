import CPUKernels
import LanguageModels
import QLoRA
import QuantCore
import Testing

/// The training ops split heads, rows or columns across threads without changing a bit of the result.
@Suite("Training ops: results do not depend on the thread count")
struct TrainingThreadCountTests {
  @Test(arguments: [(4, 2), (6, 3), (3, 1)])
  func attentionIsBitIdenticalAcrossThreadCounts(heads: Int, kvHeads: Int) throws {
    let (t, d) = (9, 8)
    func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float(($0 &* seed) % 97) / 48 - 1 } }
    let q = values(t * heads * d, 31)
    let k = values(t * kvHeads * d, 17)
    let v = values(t * kvHeads * d, 13)
    let dO = values(t * heads * d, 7)
    var serial = try CausalAttentionOp(heads: heads, kvHeads: kvHeads, headDim: d)
    serial.threads = 1
    let reference = try serial.forward(q: q, k: k, v: v)
    let gradients = try serial.backward(dO, q: q, k: k, v: v, saved: reference)
    for threads in [2, 3, 8] {
      var parallel = serial
      parallel.threads = threads
      let saved = try parallel.forward(q: q, k: k, v: v)
      #expect(saved.output == reference.output && saved.logSumExp == reference.logSumExp)
      let result = try parallel.backward(dO, q: q, k: k, v: v, saved: saved)
      #expect(result.dq == gradients.dq && result.dk == gradients.dk && result.dv == gradients.dv)
    }
  }

  /// The single-pass cross-entropy (bfloat16 head with a bias, soft-capped, some positions ignored): the same
  /// bits for any thread count and tokens per pass, and the chunked path's values up to float32 rounding.
  @Test(arguments: [nil, 3] as [Float?])
  func singlePassCrossEntropyIsBitIdenticalAcrossThreadsAndPasses(softcap: Float?) throws {
    let (tokens, hidden, vocab) = (37, 40, 301)
    let weights = Self.values(vocab * hidden, 23).map { $0 * 0.5 }
    let tensor = try Tensor(converting: weights, to: .bfloat16, shape: [vocab, hidden])
    let bias = Self.values(vocab, 19)
    let x = Self.values(tokens * hidden, 41)
    let targets = (0..<tokens).map { $0 % 5 == 2 ? ChunkedCrossEntropy.ignoreIndex : ($0 &* 53) % vocab }
    func run(threads: Int?, passTokens: Int) throws -> (loss: Float, tokens: Int, hiddenGradient: [Float]) {
      var head = try FrozenLinear(
        name: "lm_head", weight: .tensor(tensor), inFeatures: hidden, outFeatures: vocab, bias: bias)
      if let threads {
        head.backend = CPUBackend(threads: threads)
        head.threads = threads
      }
      var loss = ChunkedCrossEntropy(head: head, chunkTokens: 8)
      loss.softcap = softcap
      loss.vocabularyTile = 64
      loss.passTokens = passTokens
      return try loss.lossAndGradient(hidden: x, targets: targets)
    }
    let reference = try run(threads: 1, passTokens: 256)
    for (threads, passTokens) in [(2, 256), (3, 7), (1, 1)] {
      let result = try run(threads: threads, passTokens: passTokens)
      #expect(result.loss == reference.loss && result.hiddenGradient == reference.hiddenGradient)
    }
    let chunked = try run(threads: nil, passTokens: 256)
    #expect(chunked.tokens == reference.tokens)
    #expect(abs(chunked.loss - reference.loss) <= 1e-5 * abs(chunked.loss))
    let scale = chunked.hiddenGradient.map(abs).max() ?? 0
    #expect(scale > 0)
    #expect(zip(chunked.hiddenGradient, reference.hiddenGradient).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
    for row in 0..<tokens where targets[row] == ChunkedCrossEntropy.ignoreIndex {
      #expect(reference.hiddenGradient[(row * hidden)..<((row + 1) * hidden)].allSatisfy { $0 == 0 })
    }
  }

  static func values(_ count: Int, _ seed: Int) -> [Float] { (0..<count).map { Float(($0 &* seed) % 97) / 48 - 1 } }

  /// Shapes above the ops' per-thread minimums, so that the splits really happen.
  @Test func adapterNormAndGateAreBitIdenticalAcrossThreadCounts() throws {
    let (rows, inFeatures, outFeatures) = (64, 512, 300)
    var generator = SeededGenerator(seed: 5)
    var reference = try LoRAAdapter(
      inFeatures: inFeatures, outFeatures: outFeatures, configuration: LoRAConfiguration(rank: 8, alpha: 16),
      generator: &generator)
    reference.b = Self.values(reference.b.count, 11)
    let x = Self.values(rows * inFeatures, 29)
    let dy = Self.values(rows * outFeatures, 23)
    var none: SeededGenerator? = nil
    let saved = try reference.prepare(x, generator: &none, threads: 1)
    var y = Self.values(rows * outFeatures, 3)
    let base = y
    reference.addOutput(saved, into: &y, threads: 1)
    var dx = Self.values(rows * inFeatures, 19)
    let baseGradient = dx
    try reference.backward(dy, saved: saved, addingInto: &dx, threads: 1)
    let norm = RMSNormOp(weight: Self.values(inFeatures, 37), epsilon: 1e-5)
    let normed = try norm.forward(x, threads: 1)
    let normGradient = try norm.backward(x, x: x, inverseRMS: normed.inverseRMS, threads: 1)
    let gate = try GatedActivationOp.forward(gate: x, up: dx, threads: 1)
    let gateGradients = try GatedActivationOp.backward(x, gate: x, up: dx, threads: 1)
    for threads in [2, 3, 8] {
      var adapter = try LoRAAdapter(
        a: reference.a, b: reference.b, inFeatures: inFeatures, outFeatures: outFeatures,
        configuration: LoRAConfiguration(rank: 8, alpha: 16))
      let parallelSaved = try adapter.prepare(x, generator: &none, threads: threads)
      #expect(parallelSaved.projected == saved.projected)
      var parallelY = base
      adapter.addOutput(parallelSaved, into: &parallelY, threads: threads)
      #expect(parallelY == y)
      var parallelDX = baseGradient
      try adapter.backward(dy, saved: parallelSaved, addingInto: &parallelDX, threads: threads)
      #expect(parallelDX == dx && adapter.gradientA == reference.gradientA && adapter.gradientB == reference.gradientB)
      let parallelNormed = try norm.forward(x, threads: threads)
      #expect(parallelNormed.output == normed.output && parallelNormed.inverseRMS == normed.inverseRMS)
      #expect(try norm.backward(x, x: x, inverseRMS: normed.inverseRMS, threads: threads) == normGradient)
      #expect(try GatedActivationOp.forward(gate: x, up: dx, threads: threads) == gate)
      let parallelGate = try GatedActivationOp.backward(x, gate: x, up: dx, threads: threads)
      #expect(parallelGate.dGate == gateGradients.dGate && parallelGate.dUp == gateGradients.dUp)
    }
  }

  /// A whole training step (runtime GEMMs, attention, norms, adapters, the cross-entropy) on 1 and 3 threads.
  @Test func aTrainingStepIsBitIdenticalAcrossThreadCounts() throws {
    func gradients(threads: Int) throws -> (Float, [String: [Float]]) {
      var model = try TrainableModel(model: try LanguageModel.load(directory: TrainerTests.modelFolder, threads: threads))
      try model.addAdapters(configuration: LoRAConfiguration(rank: 4, alpha: 8), targets: .allLinear, seed: 3)
      for name in model.adapterNames {
        let count = model.adapters[name]?.b.count ?? 0
        model.adapters[name]?.b = Self.values(count, name.count)
      }
      let tokens = (0..<24).map { ($0 * 7 + 3) % 50 }
      var none: SeededGenerator? = nil
      let loss = try model.accumulateGradients(tokens: tokens, labels: tokens, generator: &none).loss
      var result = [String: [Float]]()
      for (name, adapter) in model.adapters { result[name] = adapter.gradientA + adapter.gradientB }
      return (loss, result)
    }
    let serial = try gradients(threads: 1)
    let parallel = try gradients(threads: 3)
    #expect(serial.0 == parallel.0)
    #expect(serial.1 == parallel.1)
  }
}
