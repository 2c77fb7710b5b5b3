import QLoRA
import Testing

/// The training ops split heads across threads without changing a bit of the result.
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
}
