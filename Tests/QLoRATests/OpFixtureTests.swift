import CPUKernels
import Foundation
import QLoRA
import QuantCore
import Testing

@Suite("Training ops against torch autograd")
struct OpFixtureTests {
  let fixture: Fixture

  init() throws { fixture = try Fixture("ops.safetensors") }

  @Test func rmsNorm() throws {
    let op = RMSNormOp(weight: try fixture.floats("rms.weight"), epsilon: 1e-6)
    let x = try fixture.floats("rms.x")
    let forward = try op.forward(x)
    let dx = try op.backward(try fixture.floats("rms.gy"), x: x, inverseRMS: forward.inverseRMS)
    #expect(Fixture.relativeError(forward.output, try fixture.floats("rms.y")) < 1e-6)
    #expect(Fixture.relativeError(dx, try fixture.floats("rms.dx")) < 1e-5)
  }

  @Test func rotaryEmbedding() throws {
    let op = try RotaryEmbeddingOp(positions: 8, headDim: 8, theta: 10000)
    let x = try fixture.floats("rope.x")
    #expect(Fixture.relativeError(try op.forward(x, heads: 3, firstPosition: 2), try fixture.floats("rope.y")) < 1e-6)
    let dx = try op.backward(try fixture.floats("rope.gy"), heads: 3, firstPosition: 2)
    #expect(Fixture.relativeError(dx, try fixture.floats("rope.dx")) < 1e-6)
  }

  /// In one block of queries and in blocks of 1, 2 and 4 query tokens.
  @Test(arguments: [32, 1, 2, 4])
  func causalAttention(queryBlock: Int) throws {
    var op = try CausalAttentionOp(heads: 4, kvHeads: 2, headDim: 6)
    op.queryBlock = queryBlock
    let (q, k, v) = (try fixture.floats("attn.q"), try fixture.floats("attn.k"), try fixture.floats("attn.v"))
    let saved = try op.forward(q: q, k: k, v: v)
    #expect(Fixture.relativeError(saved.output, try fixture.floats("attn.o")) < 1e-5)
    let grads = try op.backward(try fixture.floats("attn.go"), q: q, k: k, v: v, saved: saved)
    #expect(Fixture.relativeError(grads.dq, try fixture.floats("attn.dq")) < 1e-5)
    #expect(Fixture.relativeError(grads.dk, try fixture.floats("attn.dk")) < 1e-5)
    #expect(Fixture.relativeError(grads.dv, try fixture.floats("attn.dv")) < 1e-5)
  }

  @Test func gatedActivation() throws {
    let (a, b) = (try fixture.floats("gate.a"), try fixture.floats("gate.b"))
    #expect(Fixture.relativeError(try GatedActivationOp.forward(gate: a, up: b), try fixture.floats("gate.h")) < 1e-6)
    let grads = try GatedActivationOp.backward(try fixture.floats("gate.gh"), gate: a, up: b)
    #expect(Fixture.relativeError(grads.dGate, try fixture.floats("gate.da")) < 1e-6)
    #expect(Fixture.relativeError(grads.dUp, try fixture.floats("gate.db")) < 1e-6)
  }

  @Test func chunkedCrossEntropy() throws {
    let head = try FrozenLinear(
      name: "lm_head", weight: .dense(try fixture.floats("ce.weight")), inFeatures: 6, outFeatures: 13, tileRows: 4)
    for chunk in [1, 2, 4, 9] {
      let loss = ChunkedCrossEntropy(head: head, chunkTokens: chunk)
      let result = try loss.lossAndGradient(hidden: try fixture.floats("ce.hidden"), targets: try fixture.ints("ce.targets"))
      #expect(Fixture.relativeError([result.loss], try fixture.floats("ce.loss")) < 1e-6)
      #expect(Fixture.relativeError(result.hiddenGradient, try fixture.floats("ce.dhidden")) < 1e-5)
    }
  }

  /// The single-pass path (a dense head on the CPU backend, online softmax over vocabulary tiles) against torch,
  /// with tiles of one row, of a few rows, and of the whole vocabulary, and passes of one token or of all.
  @Test func singlePassCrossEntropy() throws {
    var head = try FrozenLinear(
      name: "lm_head", weight: .dense(try fixture.floats("ce.weight")), inFeatures: 6, outFeatures: 13)
    head.backend = CPUBackend(threads: 2)
    head.threads = 2
    for (tile, passTokens) in [(1, 256), (4, 1), (5, 2), (13, 256), (64, 3)] {
      var loss = ChunkedCrossEntropy(head: head)
      loss.vocabularyTile = tile
      loss.passTokens = passTokens
      let result = try loss.lossAndGradient(hidden: try fixture.floats("ce.hidden"), targets: try fixture.ints("ce.targets"))
      #expect(Fixture.relativeError([result.loss], try fixture.floats("ce.loss")) < 1e-6)
      #expect(Fixture.relativeError(result.hiddenGradient, try fixture.floats("ce.dhidden")) < 1e-5)
    }
  }

  /// bitsandbytes' NF4 weight `[20, 64]` (blocksize 64) of the fixture.
  func nf4Weight() throws -> QuantizedTensor {
    let state = QuantState(
      absmax: .plain(try fixture.floats("nf4.absmax")), shape: [20, 64], code: try fixture.floats("nf4.code"),
      dtype: .float32, blocksize: 64, quantType: "nf4")
    return QuantizedTensor(
      format: "nf4", shape: [20, 64], originalDType: .float32,
      layout: .codebook4Bit(packed: try fixture.tensor("nf4.packed"), state: state))
  }

  /// bitsandbytes' NF4 weight (blocksize 64) decoded tile by tile: forward and `dX = dY·W`.
  @Test func frozenNF4Linear() throws {
    let weight = try nf4Weight()
    for tileRows in [1, 3, 64] {
      let layer = try FrozenLinear(name: "w", weight: .quantized(weight), inFeatures: 64, outFeatures: 20, tileRows: tileRows)
      #expect(Fixture.relativeError(try layer.forward(try fixture.floats("nf4.x")), try fixture.floats("nf4.y")) < 1e-5)
      let dx = try layer.inputGradient(try fixture.floats("nf4.gy"))
      #expect(Fixture.relativeError(dx, try fixture.floats("nf4.dx")) < 1e-5)
    }
    // The GEMM path (tiles of W transposed for the backend's x·wᵀ kernel), tiles dividing 20 rows or not.
    for backend in [CPUBackend(threads: 2), ReferenceBackend()] as [any KernelBackend] {
      for gemmRows in [1, 7, 20, 256] {
        var layer = try FrozenLinear(name: "w", weight: .quantized(weight), inFeatures: 64, outFeatures: 20)
        layer.backend = backend
        layer.gradientTileRows = gemmRows
        let dx = try layer.inputGradient(try fixture.floats("nf4.gy"))
        #expect(Fixture.relativeError(dx, try fixture.floats("nf4.dx")) < 1e-5, "\(backend) \(gemmRows)")
      }
    }
  }

  /// A backend that accelerates the layout gets the whole input gradient through its fused
  /// `linearInputGradient` hook (Metal's GEMM; here the protocol's reference default behind a spy), in the
  /// gradient's dtype as given.
  @Test func acceleratingBackendTakesTheFusedInputGradient() throws {
    let weight = try nf4Weight()
    let spy = InputGradientSpy()
    var layer = try FrozenLinear(name: "w", weight: .quantized(weight), inFeatures: 64, outFeatures: 20)
    layer.backend = spy
    let dx = try layer.inputGradient(try fixture.floats("nf4.gy"))
    #expect(spy.calls.count == 1)
    #expect(Fixture.relativeError(dx, try fixture.floats("nf4.dx")) < 1e-5)
    // The default itself, in bfloat16 (one rounding of the float32 sum) and with a wrong width.
    let gy = try Tensor(converting: try fixture.floats("nf4.gy"), to: .bfloat16, shape: [3, 20])
    let half = try ReferenceBackend().linearInputGradient(gy, weight: weight)
    #expect(half.dtype == .bfloat16 && half.shape == [3, 64])
    #expect(Fixture.relativeError(try half.floats(), try fixture.floats("nf4.dx")) < 1e-2)
    #expect(throws: QuantError.self) {
      try ReferenceBackend().linearInputGradient(try Tensor([Float](repeating: 1, count: 21), shape: [1, 21]), weight: weight)
    }
  }

  /// A dense bfloat16 weight (the runtime's kept lm_head) is widened a tile at a time, forward and backward,
  /// with the values of its float32 widening.
  @Test func denseHalfPrecisionTensorWeight() throws {
    let (rows, columns) = (37, 19)
    let values = (0..<(rows * columns)).map { Float(($0 * 7919) % 211) / 53 - 2 }
    let tensor = try Tensor(converting: values, to: .bfloat16, shape: [rows, columns])
    let widened = try tensor.floats()
    let x = (0..<(3 * columns)).map { Float(($0 * 31) % 17) / 8 - 1 }
    let gy = (0..<(3 * rows)).map { Float(($0 * 13) % 23) / 11 - 1 }
    let reference = try FrozenLinear(name: "w", weight: .dense(widened), inFeatures: columns, outFeatures: rows)
    for tileRows in [1, 5, 64] {
      var layer = try FrozenLinear(
        name: "lm_head", weight: .tensor(tensor), inFeatures: columns, outFeatures: rows, tileRows: tileRows)
      #expect(try layer.forward(x) == reference.forward(x))
      #expect(try layer.inputGradient(gy) == reference.inputGradient(gy))
      layer.backend = CPUBackend(threads: 1)
      layer.gradientTileRows = tileRows
      #expect(Fixture.relativeError(try layer.inputGradient(gy), try reference.inputGradient(gy)) < 1e-6)
    }
    #expect(throws: QLoRAError.self) {
      try FrozenLinear(name: "lm_head", weight: .tensor(tensor), inFeatures: rows, outFeatures: columns)
    }
  }

  @Test func quantizedWeightWithWrongShapeIsRejected() throws {
    let weight = try nf4Weight()
    #expect(throws: QLoRAError.self) {
      try FrozenLinear(name: "model.layers.0.mlp.up_proj", weight: .quantized(weight), inFeatures: 20, outFeatures: 64)
    }
  }

  @Test func peftLoRALinear() throws {
    let configuration = LoRAConfiguration(rank: 3, alpha: 6)
    var adapter = try LoRAAdapter(
      a: try fixture.floats("lora.A"), b: try fixture.floats("lora.B"), inFeatures: 5, outFeatures: 7,
      configuration: configuration)
    let base = try FrozenLinear(name: "proj", weight: .dense(try fixture.floats("lora.base")), inFeatures: 5, outFeatures: 7)
    let x = try fixture.floats("lora.x")
    var noDropout: SeededGenerator? = nil
    let forward = try adapter.forward(x, generator: &noDropout)
    let y = zip(try base.forward(x), forward.output).map { $0 + $1 }
    #expect(Fixture.relativeError(y, try fixture.floats("lora.y")) < 1e-6)
    let gy = try fixture.floats("lora.gy")
    let dx = zip(try base.inputGradient(gy), try adapter.backward(gy, saved: forward.saved)).map { $0 + $1 }
    #expect(Fixture.relativeError(dx, try fixture.floats("lora.dx")) < 1e-6)
    #expect(Fixture.relativeError(adapter.gradientA, try fixture.floats("lora.dA")) < 1e-6)
    #expect(Fixture.relativeError(adapter.gradientB, try fixture.floats("lora.dB")) < 1e-6)
  }
}

/// Accelerates every layout and counts the fused input-gradient calls it receives.
final class InputGradientSpy: KernelBackend, @unchecked Sendable {
  private let lock = NSLock()
  private var recorded: [[Int]] = []
  /// The gradient shapes received, in call order.
  var calls: [[Int]] { lock.withLock { recorded } }
  var name: String { "spy" }
  var isAvailable: Bool { true }
  func accelerates(_ layout: StorageLayout) -> Bool { true }
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try ReferenceBackend().dequantize(tensor, to: dtype)
  }
  func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    try ReferenceBackend().linear(input, weight: weight, bias: bias)
  }
  func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Tensor {
    lock.withLock { recorded.append(outputGradient.shape) }
    return try ReferenceBackend().linearInputGradient(outputGradient, weight: weight)
  }
  func encode(_ request: EncodingRequest) -> Bool { false }
}
