import CPUKernels
import Foundation
import LanguageModels
import QLoRA
import QuantCore
import Testing

/// The training ops split heads, rows or columns across threads without changing a bit of the result.
@Suite("Training ops: results do not depend on the thread count")
struct TrainingThreadCountTests {
  /// Blocks of 4 queries, so that the forward pass splits (KV head, query block) pairs across threads.
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
    serial.queryBlock = 4
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

  /// Blocks of 5, 32 and all 75 queries (a partial last block, windows crossing blocks, a group of 4 heads) give
  /// the same output, log-sum-exp and gradients up to float32 rounding, and the output equals a plain
  /// double-precision softmax attention.
  @Test(arguments: [nil, 20] as [Int?])
  func attentionBlocksAgree(window: Int?) throws {
    let (t, heads, kvHeads, d) = (75, 8, 2, 16)
    let q = Self.values(t * heads * d, 31).map { $0 * 0.7 }
    let k = Self.values(t * kvHeads * d, 17)
    let v = Self.values(t * kvHeads * d, 13)
    let dO = Self.values(t * heads * d, 7)
    func run(_ queryBlock: Int) throws -> (CausalAttentionOp.Saved, [Float], [Float], [Float]) {
      var op = try CausalAttentionOp(heads: heads, kvHeads: kvHeads, headDim: d)
      op.window = window
      op.queryBlock = queryBlock
      op.threads = 2
      let saved = try op.forward(q: q, k: k, v: v)
      let grads = try op.backward(dO, q: q, k: k, v: v, saved: saved)
      return (saved, grads.dq, grads.dk, grads.dv)
    }
    func close(_ a: [Float], _ b: [Float]) -> Bool {
      let scale = b.map(abs).max() ?? 0
      return scale > 0 && zip(a, b).allSatisfy { abs($0 - $1) <= 2e-6 * scale }
    }
    let whole = try run(t)
    for queryBlock in [5, 32] {
      let blocked = try run(queryBlock)
      #expect(close(blocked.0.output, whole.0.output) && close(blocked.0.logSumExp, whole.0.logSumExp))
      #expect(close(blocked.1, whole.1) && close(blocked.2, whole.2) && close(blocked.3, whole.3))
    }
    var reference = [Double](repeating: 0, count: q.count)
    let visible = window ?? t
    for i in 0..<t {
      for h in 0..<heads {
        let kvh = h / (heads / kvHeads)
        let keys = max(0, i - visible + 1)...i
        let scores = keys.map { j in
          (0..<d).reduce(0.0) { $0 + Double(q[(i * heads + h) * d + $1]) * Double(k[(j * kvHeads + kvh) * d + $1]) }
            / Double(d).squareRoot()
        }
        let maximum = scores.max() ?? 0
        let weights = scores.map { Foundation.exp($0 - maximum) }
        let sum = weights.reduce(0, +)
        for (weight, j) in zip(weights, keys) {
          for c in 0..<d { reference[(i * heads + h) * d + c] += weight / sum * Double(v[(j * kvHeads + kvh) * d + c]) }
        }
      }
    }
    #expect(close(whole.0.output, reference.map { Float($0) }))
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
