import CPUKernels
import QuantCore

/// One Llama-family decoder block for training: forward with the activations its backward pass needs,
/// and the backward pass through norms, RoPE, causal GQA attention, the SiLU-gated MLP and residuals.
struct TrainingBlock: Sendable {
  /// The query/key/value projections: three linears, or Phi-3's `qkv_proj` producing `[q | k | v]`.
  enum QKVLinears: Sendable {
    case separate(query: AdaptedLinear, key: AdaptedLinear, value: AdaptedLinear)
    case fused(AdaptedLinear)
  }

  /// The gate and up projections: two linears, or Phi-3's `gate_up_proj` producing `[gate | up]`.
  enum GateUpLinears: Sendable {
    case separate(gate: AdaptedLinear, up: AdaptedLinear)
    case fused(AdaptedLinear)
  }

  let inputNorm: RMSNormOp
  let postAttentionNorm: RMSNormOp
  let qkv: QKVLinears
  let output: AdaptedLinear
  let gateUp: GateUpLinears
  let down: AdaptedLinear
  let attention: CausalAttentionOp
  /// Qwen3's RMSNorm over each query head / key head (before RoPE), or `nil`.
  var queryNorm: RMSNormOp? = nil
  var keyNorm: RMSNormOp? = nil
  /// Gemma 2's sandwich norms: `postAttentionNorm` then normalises the attention output, and these two
  /// surround the MLP (`h + postFeedForward(mlp(preFeedForward(h)))`); `nil` for the Llama layout.
  var feedForwardNorms: (pre: RMSNormOp, post: RMSNormOp)? = nil
  /// The MLP gate's activation.
  var activation = GatedActivationOp.Activation.silu
  /// Threads for the element-wise and per-row ops (norms, the gate); results do not depend on it.
  var threads = 1

  /// The linears that read the first norm's output: q, k, v, or Phi-3's fused `qkv_proj`.
  var attentionInputLinears: [AdaptedLinear] {
    switch qkv {
    case .separate(let query, let key, let value): [query, key, value]
    case .fused(let linear): [linear]
    }
  }

  /// The linears that read the second norm's output: gate and up, or Phi-3's fused `gate_up_proj`.
  var feedForwardInputLinears: [AdaptedLinear] {
    switch gateUp {
    case .separate(let gate, let up): [gate, up]
    case .fused(let linear): [linear]
    }
  }

  /// The block's linears in PEFT order.
  var linears: [AdaptedLinear] { attentionInputLinears + [output] + feedForwardInputLinears + [down] }

  /// Splits row-major `[rows, Σ widths]` into one `[rows, width]` array per width.
  static func split(_ values: [Float], widths: [Int]) -> [[Float]] {
    let total = widths.reduce(0, +)
    let rows = total > 0 ? values.count / total : 0
    var offset = 0
    return widths.map { width in
      defer { offset += width }
      var part = [Float](repeating: 0, count: rows * width)
      for r in 0..<rows { part[(r * width)..<((r + 1) * width)] = values[(r * total + offset)..<(r * total + offset + width)] }
      return part
    }
  }

  /// Joins `[rows, width]` parts column-wise into `[rows, Σ widths]` (the inverse of ``split(_:widths:)``).
  static func join(_ parts: [[Float]], widths: [Int]) -> [Float] {
    let total = widths.reduce(0, +)
    let rows = widths.first.map { $0 > 0 ? parts[0].count / $0 : 0 } ?? 0
    var values = [Float](repeating: 0, count: rows * total)
    var offset = 0
    for (part, width) in zip(parts, widths) {
      for r in 0..<rows { values[(r * total + offset)..<(r * total + offset + width)] = part[(r * width)..<((r + 1) * width)] }
      offset += width
    }
    return values
  }

  /// Widths of `[q | k | v]`.
  var qkvWidths: [Int] {
    [attention.heads * attention.headDim, attention.kvHeads * attention.headDim, attention.kvHeads * attention.headDim]
  }

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
    /// Sandwich norms: the attention output and the MLP output before their norms, and the inverse RMS.
    var attentionOut: [Float] = []
    var attentionOutInverse: [Float] = []
    var mlpOut: [Float] = []
    var mlpOutInverse: [Float] = []

    /// Without what ``TrainingBlock/restore(_:)`` recomputes cheaply (norm outputs, the gated product, the
    /// adapters' inputs): what a block keeps when its activations are retained instead of recomputed.
    func slimmed() -> Activations {
      var copy = self
      copy.normed1 = []
      copy.normed2 = []
      copy.product = []
      for name in copy.saved.keys { copy.saved[name]?.droppedInput = [] }
      return copy
    }

    /// The activations the backward pass reads that ``packBFloat16(threads:)`` narrows: the projections'
    /// outputs, the attention output and the residual (not the block input `x`, a checkpoint kept exactly, nor
    /// the small log-sum-exp and inverse RMS rows).
    static var narrowedFields: [WritableKeyPath<Activations, [Float]>] {
      [\.q, \.k, \.v, \.qProjected, \.kProjected, \.attention.output, \.h, \.gateOut, \.upOut, \.attentionOut, \.mlpOut]
    }

    /// ``narrowedFields`` as bfloat16 bit patterns while packed (empty otherwise).
    var narrowed: [[UInt16]] = []

    /// Rounds ``narrowedFields`` to bfloat16 (nearest even) and stores them in half the bytes.
    mutating func packBFloat16(threads: Int) {
      narrowed = Self.narrowedFields.map { path in
        let values = self[keyPath: path]
        self[keyPath: path] = []
        var bits = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
          bits.withUnsafeMutableBufferPointer { target in
            guard let from = source.baseAddress, let to = target.baseAddress else { return }
            ParallelRanges.run(count: source.count, threads: threads, minimum: 1 << 15) { range in
              BFloat16Conversion.narrow(from + range.lowerBound, into: to + range.lowerBound, count: range.count)
            }
          }
        }
        return bits
      }
    }

    /// Widens what ``packBFloat16(threads:)`` stored back into ``narrowedFields`` (exact), releasing each packed
    /// field as it goes.
    mutating func unpackBFloat16(threads: Int) {
      for (index, path) in Self.narrowedFields.enumerated() where index < narrowed.count {
        self[keyPath: path] = narrowed[index].withUnsafeBufferPointer { source in
          ParallelRanges.filled(count: source.count, threads: threads) { range, target in
            guard let from = source.baseAddress, let to = target.baseAddress else { return }
            BFloat16Conversion.widen(from + range.lowerBound, into: to + range.lowerBound, count: range.count)
          }
        }
        narrowed[index] = []
      }
      narrowed = []
    }

    /// Rounds ``narrowedFields`` to bfloat16 values in place (the bits ``packBFloat16(threads:)`` then
    /// ``unpackBFloat16(threads:)`` give, with no packed copy).
    mutating func roundToBFloat16(threads: Int) {
      for path in Self.narrowedFields {
        self[keyPath: path].withUnsafeMutableBufferPointer { buffer in
          nonisolated(unsafe) let values = buffer
          guard let base = values.baseAddress else { return }
          ParallelRanges.run(count: values.count, threads: threads, minimum: 1 << 15) { range in
            // A slice at a time through a small buffer of bit patterns.
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 4096) { bits in
              guard let scratch = bits.baseAddress else { return }
              var start = range.lowerBound
              while start < range.upperBound {
                let count = min(4096, range.upperBound - start)
                BFloat16Conversion.narrow(base + start, into: scratch, count: count)
                BFloat16Conversion.widen(scratch, into: base + start, count: count)
                start += count
              }
            }
          }
        }
      }
    }

    /// The bytes these activations hold besides the block input `x` (which the model keeps anyway).
    var retainedBytes: Int {
      var count = normed1.count + inverse1.count + q.count + k.count + qProjected.count + kProjected.count
      count += qInverse.count + kInverse.count + v.count + attention.output.count + attention.logSumExp.count
      count += h.count + normed2.count + inverse2.count + gateOut.count + upOut.count + product.count
      count += attentionOut.count + attentionOutInverse.count + mlpOut.count + mlpOutInverse.count
      for state in saved.values { count += state.droppedInput.count + state.mask.count + state.projected.count }
      return count * MemoryLayout<Float>.size + narrowed.reduce(0) { $0 + $1.count } * MemoryLayout<UInt16>.size
    }
  }

  /// The input of each linear, from activations whose cheap parts are present (`normed1`, `normed2`, `product`).
  func linearInputs(_ a: Activations) -> [(name: String, input: [Float])] {
    attentionInputLinears.map { ($0.name, a.normed1) } + [(output.name, a.attention.output)]
      + feedForwardInputLinears.map { ($0.name, a.normed2) } + [(down.name, a.product)]
  }

  /// Recomputes what ``Activations/slimmed()`` dropped: the two norms' outputs, the gated product and each
  /// adapter's dropped-out input, bit-identical to the forward pass that made them.
  func restore(_ a: inout Activations) throws(QLoRAError) {
    a.normed1 = try inputNorm.forward(a.x, threads: threads).output
    a.normed2 = try (feedForwardNorms?.pre ?? postAttentionNorm).forward(a.h, threads: threads).output
    a.product = try GatedActivationOp.forward(gate: a.gateOut, up: a.upOut, activation: activation, threads: threads)
    for (name, input) in linearInputs(a) {
      guard let mask = a.saved[name]?.mask else { continue }
      a.saved[name]?.droppedInput = LoRAAdapter.dropped(input, mask: mask)
    }
  }

  /// Turns activations into what a ``SavedActivationPrecision/bfloat16`` step reads:
  /// ``Activations/narrowedFields`` rounded to bfloat16 and the cheap parts rebuilt from them by
  /// ``restore(_:)``, the same bits whether the block was kept (packed since its forward pass) or recomputed,
  /// in place (no second copy of the block).
  ///
  /// - Parameter activations: Full activations (from a forward pass or a recompute), or slimmed ones packed
  ///   by ``Activations/packBFloat16(threads:)``.
  func narrowForBackward(_ activations: inout Activations) throws(QLoRAError) {
    activations = activations.slimmed()
    if activations.narrowed.isEmpty {
      activations.roundToBFloat16(threads: threads)
    } else {
      activations.unpackBFloat16(threads: threads)
    }
    try restore(&activations)
  }

  /// The block's output and the activations its backward pass reads.
  ///
  /// - Parameter recompute: `true` when only the activations are wanted (the recompute of gradient
  ///   checkpointing): the down projection's base product, which only the output needs, is skipped (unless
  ///   Gemma 2's post-MLP norm needs it), and the returned output is empty.
  func forward(
    _ x: [Float], rope: RotaryEmbeddingOp, adapters: [String: LoRAAdapter], generator: inout SeededGenerator?,
    recompute: Bool = false
  ) throws(QLoRAError) -> (output: [Float], activations: Activations) {
    var saved = [String: LoRAAdapter.Saved]()
    func run(
      _ linear: AdaptedLinear, _ input: [Float], _ generator: inout SeededGenerator?, needsOutput: Bool = true
    ) throws(QLoRAError) -> [Float] {
      let result = try linear.forward(
        input, adapter: adapters[linear.name], generator: &generator, needsOutput: needsOutput)
      if let state = result.saved { saved[linear.name] = state }
      return result.output
    }
    let (normed1, inverse1) = try inputNorm.forward(x, threads: threads)
    let qProjected: [Float]
    let kProjected: [Float]
    let v: [Float]
    switch qkv {
    case .separate(let query, let key, let value):
      qProjected = try run(query, normed1, &generator)
      kProjected = try run(key, normed1, &generator)
      v = try run(value, normed1, &generator)
    case .fused(let linear):
      let parts = Self.split(try run(linear, normed1, &generator), widths: qkvWidths)
      (qProjected, kProjected, v) = (parts[0], parts[1], parts[2])
    }
    // Qwen3: each head vector is RMS-normalised (weight [headDim]) before RoPE.
    let qNormed = try queryNorm?.forward(qProjected)
    let kNormed = try keyNorm?.forward(kProjected)
    let q = try rope.forward(qNormed?.output ?? qProjected, heads: attention.heads)
    let k = try rope.forward(kNormed?.output ?? kProjected, heads: attention.kvHeads)
    let attended = try attention.forward(q: q, k: k, v: v)
    let projected = try run(output, attended.output, &generator)
    let h: [Float]
    let normed2: [Float]
    let inverse2: [Float]
    var postAttention: (output: [Float], inverseRMS: [Float])?
    if let norms = feedForwardNorms {
      postAttention = try postAttentionNorm.forward(projected)
      h = zip(x, postAttention?.output ?? []).map { $0 + $1 }
      (normed2, inverse2) = try norms.pre.forward(h, threads: threads)
    } else {
      h = zip(x, projected).map { $0 + $1 }
      (normed2, inverse2) = try postAttentionNorm.forward(h, threads: threads)
    }
    let gateOut: [Float]
    let upOut: [Float]
    switch gateUp {
    case .separate(let gate, let up):
      gateOut = try run(gate, normed2, &generator)
      upOut = try run(up, normed2, &generator)
    case .fused(let linear):
      let width = down.base.inFeatures
      let parts = Self.split(try run(linear, normed2, &generator), widths: [width, width])
      (gateOut, upOut) = (parts[0], parts[1])
    }
    let product = try GatedActivationOp.forward(gate: gateOut, up: upOut, activation: activation, threads: threads)
    let mlp = try run(down, product, &generator, needsOutput: !recompute || feedForwardNorms != nil)
    let postFeedForward = try feedForwardNorms?.post.forward(mlp)
    let out = recompute ? [] : zip(h, postFeedForward?.output ?? mlp).map { $0 + $1 }
    var activations = Activations(
      x: x, normed1: normed1, inverse1: inverse1, q: q, k: k, v: v, attention: attended, h: h, normed2: normed2,
      inverse2: inverse2, gateOut: gateOut, upOut: upOut, product: product, saved: saved)
    if let postAttention, let postFeedForward {
      (activations.attentionOut, activations.attentionOutInverse) = (projected, postAttention.inverseRMS)
      (activations.mlpOut, activations.mlpOutInverse) = (mlp, postFeedForward.inverseRMS)
    }
    if let qNormed, let kNormed {
      (activations.qProjected, activations.qInverse) = (qProjected, qNormed.inverseRMS)
      (activations.kProjected, activations.kInverse) = (kProjected, kNormed.inverseRMS)
    }
    return (out, activations)
  }

  /// The gradient of the block input; releases the MLP's activations from `a` as soon as they are read (the
  /// gated product after the down projection; gate and up become their own gradients), so the step's peak (the
  /// last block's backward, with every kept block still held) is lower.
  func backward(
    _ dOut: [Float], activations a: inout Activations, rope: RotaryEmbeddingOp, adapters: inout [String: LoRAAdapter]
  ) throws(QLoRAError) -> [Float] {
    func back(_ linear: AdaptedLinear, _ dy: [Float]) throws(QLoRAError) -> [Float] {
      var adapter = adapters[linear.name]
      let dx = try linear.backward(dy, adapter: &adapter, saved: a.saved[linear.name])
      if let adapter { adapters[linear.name] = adapter }
      return dx
    }
    // MLP branch.
    let dMLP = try feedForwardNorms?.post.backward(dOut, x: a.mlpOut, inverseRMS: a.mlpOutInverse) ?? dOut
    var dProduct = try back(down, dMLP)
    a.product = []
    a.saved[down.name]?.droppedInput = []
    var (dGate, dUp) = (a.gateOut, a.upOut)
    (a.gateOut, a.upOut) = ([], [])
    try GatedActivationOp.backward(dProduct, replacing: &dGate, and: &dUp, activation: activation, threads: threads)
    dProduct = []
    let dNormed2: [Float]
    switch gateUp {
    case .separate(let gate, let up):
      let dGateIn = try back(gate, dGate)
      let dUpIn = try back(up, dUp)
      dNormed2 = zip(dGateIn, dUpIn).map { $0 + $1 }
    case .fused(let linear):
      let width = down.base.inFeatures
      dNormed2 = try back(linear, Self.join([dGate, dUp], widths: [width, width]))
    }
    let dNorm2 = try (feedForwardNorms?.pre ?? postAttentionNorm).backward(
      dNormed2, x: a.h, inverseRMS: a.inverse2, threads: threads)
    let dh = zip(dOut, dNorm2).map { $0 + $1 }
    // Attention branch.
    let dProjected =
      feedForwardNorms == nil
      ? dh : try postAttentionNorm.backward(dh, x: a.attentionOut, inverseRMS: a.attentionOutInverse)
    let dAttended = try back(output, dProjected)
    let grads = try attention.backward(dAttended, q: a.q, k: a.k, v: a.v, saved: a.attention)
    var dqNormed = try rope.backward(grads.dq, heads: attention.heads)
    var dkNormed = try rope.backward(grads.dk, heads: attention.kvHeads)
    if let queryNorm, let keyNorm {
      dqNormed = try queryNorm.backward(dqNormed, x: a.qProjected, inverseRMS: a.qInverse)
      dkNormed = try keyNorm.backward(dkNormed, x: a.kProjected, inverseRMS: a.kInverse)
    }
    var dNormed1: [Float]
    switch qkv {
    case .separate(let query, let key, let value):
      dNormed1 = try back(query, dqNormed)
      let dk = try back(key, dkNormed)
      let dv = try back(value, grads.dv)
      for i in dNormed1.indices { dNormed1[i] += dk[i] + dv[i] }
    case .fused(let linear):
      dNormed1 = try back(linear, Self.join([dqNormed, dkNormed, grads.dv], widths: qkvWidths))
    }
    let dNorm1 = try inputNorm.backward(dNormed1, x: a.x, inverseRMS: a.inverse1, threads: threads)
    return zip(dh, dNorm1).map { $0 + $1 }
  }
}
