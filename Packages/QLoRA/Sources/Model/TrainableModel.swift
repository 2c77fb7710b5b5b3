import Foundation
public import LanguageModels
import QuantCore

/// A Llama-family model prepared for LoRA training: frozen (quantized or dense) projections from a loaded
/// ``LanguageModel``, fp32 adapters on the selected linears, and a forward/backward pass with per-block
/// gradient checkpointing (block inputs are kept and each block is recomputed during its backward, unless
/// ``retainedActivationBytes`` lets it keep its forward activations).
public struct TrainableModel: Sendable {
  /// Vocabulary size.
  public let vocabularySize: Int
  /// Hidden size.
  public let hiddenSize: Int
  /// The longest sequence the model allows (`max_position_embeddings`).
  public let maximumPositions: Int
  /// The runtime's embedding table (its stored dtype: rows are widened as tokens are looked up).
  let embedding: Tensor
  let blocks: [TrainingBlock]
  let finalNorm: RMSNormOp
  let head: FrozenLinear
  /// The runtime's rotary embedding (its scaling rule, rotary dimension and LongRoPE factors).
  let rotary: RotaryEmbedding
  /// Gemma's embedding multiplier (`sqrt(hidden)` in the embedding's dtype), or `nil`.
  let embeddingScale: Float?
  /// Gemma 2's final logit soft-capping, or `nil`.
  let finalLogitSoftcap: Float?
  /// Tokens per chunk of the chunked lm_head cross-entropy (a quantized lm_head, or a backend other than the
  /// CPU's; a dense lm_head on the CPU runs in one pass over vocabulary tiles instead): its logits are
  /// `tokens × vocab` floats (30 MB for Llama 3's 128 256-token vocabulary). 60 is a multiple of the GEMM's
  /// 6-row microkernel (64 rows pad to 66).
  public var lossChunkTokens = 60
  /// Bytes of activations that may be kept from the forward pass instead of recomputed in the backward pass
  /// (per-block gradient checkpointing recomputes every block but the last; each block that fits here skips its
  /// recompute). A kept block holds its projections' outputs, attention output and residual (about
  /// `tokens × (3·hidden + 2·kvDim + 2·intermediate) × 4` bytes; 24 MB for a 256-token Llama 3.2 1B
  /// block). `0` recomputes every block; the gradients are bit-identical either way.
  public var retainedActivationBytes = 0
  /// How the activations the backward pass reads are stored: ``SavedActivationPrecision/bfloat16`` halves a
  /// kept block's bytes and rounds what the gradients read (the loss does not change).
  public var savedActivationPrecision = SavedActivationPrecision.float32
  /// How many blocks besides the last kept their activations in the last ``accumulateGradients(tokens:labels:normalizer:generator:)``
  /// (the others were recomputed).
  public private(set) var retainedBlocks = 0
  /// The bytes those blocks kept (`nil` before the first step).
  public private(set) var lastRetainedBytes: Int?
  /// The number of decoder blocks.
  public var layerCount: Int { blocks.count }
  /// The adapters by module path.
  public var adapters: [String: LoRAAdapter] = [:]
  /// The LoRA settings of ``adapters``.
  public private(set) var loraConfiguration = LoRAConfiguration()
  /// The selection the adapters were made from.
  public private(set) var targets = TargetModules.allLinear

  /// Every adaptable module path, in model order.
  public var linearNames: [String] { blocks.flatMap { $0.linears.map(\.name) } }
  /// The adapter names in model order.
  public var adapterNames: [String] { linearNames.filter { adapters[$0] != nil } }

  /// Prepares a loaded model.
  ///
  /// - Parameter model: A Llama, Mistral (sliding window too), Qwen2, Qwen3, Phi-3 (fused projections,
  ///   LongRoPE, partial rotary) or Gemma 2-style model.
  /// - Throws: `QLoRAError.invalidSetting` for an architecture feature the training path lacks.
  public init(model: LanguageModel) throws(QLoRAError) {
    let configuration = model.configuration
    func unsupported(_ what: String) -> QLoRAError {
      .invalidSetting(name: "model", reason: "\(configuration.architecture) with \(what) is not supported for training")
    }
    let backend = model.backend
    let threads = model.attentionThreads
    vocabularySize = configuration.vocabularySize
    hiddenSize = configuration.hiddenSize
    maximumPositions = configuration.maxPositionEmbeddings
    guard [.float32, .float16, .bfloat16].contains(model.embedding.dtype),
      model.embedding.elementCount == vocabularySize * hiddenSize
    else {
      throw .quantized(name: "model.embed_tokens", reason: "\(model.embedding.dtype) \(model.embedding.shape)")
    }
    embedding = model.embedding
    var blocks = [TrainingBlock]()
    for block in model.blocks {
      guard (block.preFeedForwardNorm == nil) == (block.postFeedForwardNorm == nil),
        (block.attention.queryNorm == nil) == (block.attention.keyNorm == nil)
      else { throw unsupported("only one of a pair of norms") }
      let activation: GatedActivationOp.Activation =
        switch block.feedForward.activation {
        case .silu: .silu
        case .geluTanh: .geluTanh
        case .gelu: .gelu
        }
      func adapted(_ layer: any LinearLayer) throws(QLoRAError) -> AdaptedLinear {
        AdaptedLinear(base: try Self.frozen(layer, backend: backend, threads: threads))
      }
      let qkv: TrainingBlock.QKVLinears =
        switch block.attention.qkv {
        case .separate(let q, let k, let v): .separate(query: try adapted(q), key: try adapted(k), value: try adapted(v))
        case .fused(let linear): .fused(try adapted(linear))
        }
      let gateUp: TrainingBlock.GateUpLinears =
        switch block.feedForward.gateUp {
        case .separate(let gate, let up): .separate(gate: try adapted(gate), up: try adapted(up))
        case .fused(let linear): .fused(try adapted(linear))
        }
      var attention = try CausalAttentionOp(
        heads: block.attention.heads, kvHeads: block.attention.keyValueHeads, headDim: block.attention.headDimension,
        scale: block.attention.scale)
      attention.threads = threads
      attention.window = block.attention.window
      attention.softcap = block.attention.softcap
      var trainingBlock = TrainingBlock(
        inputNorm: RMSNormOp(weight: block.inputNorm.scale, epsilon: block.inputNorm.epsilon),
        postAttentionNorm: RMSNormOp(weight: block.postAttentionNorm.scale, epsilon: block.postAttentionNorm.epsilon),
        qkv: qkv, output: try adapted(block.attention.output), gateUp: gateUp, down: try adapted(block.feedForward.down),
        attention: attention)
      trainingBlock.activation = activation
      trainingBlock.threads = threads
      if let pre = block.preFeedForwardNorm, let post = block.postFeedForwardNorm {
        trainingBlock.feedForwardNorms = (
          RMSNormOp(weight: pre.scale, epsilon: pre.epsilon), RMSNormOp(weight: post.scale, epsilon: post.epsilon)
        )
      }
      if let queryNorm = block.attention.queryNorm, let keyNorm = block.attention.keyNorm {
        trainingBlock.queryNorm = RMSNormOp(weight: queryNorm.scale, epsilon: queryNorm.epsilon)
        trainingBlock.keyNorm = RMSNormOp(weight: keyNorm.scale, epsilon: keyNorm.epsilon)
      }
      blocks.append(trainingBlock)
    }
    self.blocks = blocks
    finalNorm = RMSNormOp(weight: model.finalNorm.scale, epsilon: model.finalNorm.epsilon)
    head = try Self.frozen(model.outputProjection, backend: backend, threads: threads)
    rotary = model.rope
    embeddingScale =
      configuration.scalesEmbeddings
      ? LanguageModel.embeddingScale(hiddenSize: configuration.hiddenSize, dtype: model.embedding.dtype) : nil
    finalLogitSoftcap = configuration.finalLogitSoftcap.map(Float.init)
  }

  /// Wraps a runtime projection (quantized weights stay quantized); the forward runs on the runtime's
  /// kernels through `backend`, the input gradient on decoded tiles.
  static func frozen(_ layer: any LinearLayer, backend: any KernelBackend, threads: Int = 1) throws(QLoRAError) -> FrozenLinear {
    var linear = try frozen(layer)
    linear.backend = backend
    linear.threads = threads
    let outFeatures = layer.outFeatures
    linear.acceleratedForward = { (x: [Float], rows: Int) throws(QLoRAError) -> [Float] in
      var y = [Float](repeating: 0, count: rows * outFeatures)
      do {
        try x.withUnsafeBufferPointer { (input) throws(LanguageModelError) in
          try y.withUnsafeMutableBufferPointer { (output) throws(LanguageModelError) in
            try layer.apply(input, rows: rows, into: output, backend: backend)
          }
        }
      } catch {
        throw .quantized(name: layer.name, reason: "\(error)")
      }
      return y
    }
    return linear
  }

  /// Wraps a runtime projection; quantized weights stay quantized.
  static func frozen(_ layer: any LinearLayer) throws(QLoRAError) -> FrozenLinear {
    do {
      if let projection = layer as? QuantizedProjection {
        return try FrozenLinear(
          name: layer.name, weight: .quantized(projection.weight), inFeatures: layer.inFeatures,
          outFeatures: layer.outFeatures, bias: try projection.bias?.floats())
      }
      if let projection = layer as? DenseProjection {
        return try FrozenLinear(
          name: layer.name, weight: .tensor(projection.weight), inFeatures: layer.inFeatures,
          outFeatures: layer.outFeatures, bias: try projection.bias?.floats())
      }
    } catch let error as QLoRAError {
      throw error
    } catch {
      throw .quantized(name: layer.name, reason: "\(error)")
    }
    throw .quantized(name: layer.name, reason: "unsupported projection type \(type(of: layer))")
  }

  /// Layer index of a module path (`model.layers.3.mlp.up_proj` → 3).
  static func layerIndex(_ name: String) -> Int {
    let parts = name.split(separator: ".")
    guard let at = parts.firstIndex(of: "layers"), at + 1 < parts.count, let index = Int(parts[at + 1]) else { return -1 }
    return index
  }

  /// Creates fresh adapters (PEFT initialisation) on the selected linears.
  ///
  /// - Parameters:
  ///   - configuration: Rank, alpha, dropout, rsLoRA.
  ///   - targets: Which linears.
  ///   - seed: Seeds the `lora_A` draws.
  /// - Throws: `QLoRAError.unknownTargetModule` for a name that matches nothing, or an invalid setting.
  public mutating func addAdapters(configuration: LoRAConfiguration, targets: TargetModules, seed: UInt64) throws(QLoRAError) {
    try configuration.validate()
    for name in targets.names ?? [] where !linearNames.contains(where: { $0 == name || $0.hasSuffix("." + name) }) {
      throw .unknownTargetModule(name)
    }
    if let layers = targets.layers, let bad = layers.first(where: { !(0..<blocks.count).contains($0) }) {
      throw .invalidSetting(name: "layers", reason: "layer \(bad) does not exist (the model has \(blocks.count))")
    }
    var generator = SeededGenerator(seed: seed)
    var created = [String: LoRAAdapter]()
    for block in blocks {
      for linear in block.linears where targets.matches(linear.name, layer: Self.layerIndex(linear.name)) {
        created[linear.name] = try LoRAAdapter(
          inFeatures: linear.base.inFeatures, outFeatures: linear.base.outFeatures, configuration: configuration,
          generator: &generator)
      }
    }
    guard !created.isEmpty else { throw .unknownTargetModule(targets.names?.joined(separator: ",") ?? "all-linear") }
    adapters = created
    loraConfiguration = configuration
    self.targets = targets
  }

  /// Installs adapters read from a file (checked against the layer shapes).
  ///
  /// - Parameters:
  ///   - adapters: Adapters by module path.
  ///   - configuration: Their settings.
  ///   - targets: The selection to record.
  /// - Throws: `QLoRAError` when a name or shape does not fit the model.
  public mutating func setAdapters(
    _ adapters: [String: LoRAAdapter], configuration: LoRAConfiguration, targets: TargetModules
  ) throws(QLoRAError) {
    let linears = Dictionary(uniqueKeysWithValues: blocks.flatMap(\.linears).map { ($0.name, $0.base) })
    for (name, adapter) in adapters {
      guard let base = linears[name] else { throw .unknownTargetModule(name) }
      guard base.inFeatures == adapter.inFeatures, base.outFeatures == adapter.outFeatures else {
        throw .shapeMismatch(
          context: "adapter \(name)", expected: base.inFeatures * base.outFeatures,
          found: adapter.inFeatures * adapter.outFeatures)
      }
    }
    self.adapters = adapters
    loraConfiguration = configuration
    self.targets = targets
  }

  /// The rotation of a sequence of `tokens` positions; LongRoPE picks its short or long factors from the
  /// sequence length, as transformers does per forward call.
  func rope(tokens: Int) throws(QLoRAError) -> RotaryEmbeddingOp {
    try RotaryEmbeddingOp(
      positions: tokens, headDim: blocks.first?.attention.headDim ?? 2,
      inverseFrequencies: rotary.frequencies(lastPosition: tokens - 1), attentionScaling: rotary.attentionScaling)
  }

  func embed(_ tokens: [Int]) throws(QLoRAError) -> [Float] {
    guard !tokens.isEmpty else { throw .invalidSetting(name: "sequence", reason: "no tokens") }
    guard tokens.count <= maximumPositions else {
      throw .invalidSetting(
        name: "sequence length", reason: "\(tokens.count) tokens exceed max_position_embeddings \(maximumPositions)")
    }
    if let token = tokens.first(where: { !(0..<vocabularySize).contains($0) }) {
      throw .invalidSetting(name: "token id", reason: "\(token) is outside the vocabulary of \(vocabularySize)")
    }
    var x = [Float](repeating: 0, count: tokens.count * hiddenSize)
    let rowBytes = hiddenSize * embedding.dtype.byteSize
    embedding.withUnsafeBytes { table in
      x.withUnsafeMutableBufferPointer { out in
        for (position, token) in tokens.enumerated() {
          ElementConversion.load(
            UnsafeRawBufferPointer(rebasing: table[(token * rowBytes)..<((token + 1) * rowBytes)]), as: embedding.dtype,
            into: UnsafeMutableBufferPointer(rebasing: out[(position * hiddenSize)..<((position + 1) * hiddenSize)]))
        }
      }
    }
    if let embeddingScale { for i in x.indices { x[i] *= embeddingScale } }
    return x
  }

  /// The logits of every position, `[tokens, vocab]`, with the adapters (evaluation: no dropout).
  ///
  /// - Parameter tokens: Token ids.
  /// - Returns: The logits.
  /// - Throws: `QLoRAError` on bad ids or a sequence longer than the model allows.
  public func logits(_ tokens: [Int]) throws(QLoRAError) -> [Float] {
    var x = try embed(tokens)
    let rope = try rope(tokens: tokens.count)
    var none: SeededGenerator? = nil
    for block in blocks { x = try block.forward(x, rope: rope, adapters: adapters, generator: &none).output }
    var logits = try head.forward(try finalNorm.forward(x).output)
    if let cap = finalLogitSoftcap { for i in logits.indices { logits[i] = Foundation.tanh(logits[i] / cap) * cap } }
    return logits
  }

  /// Runs forward and backward on one sequence and adds the adapter gradients to each adapter's
  /// accumulators.
  ///
  /// - Parameters:
  ///   - tokens: Token ids.
  ///   - labels: One label per token (`-100` to ignore); position `t` is scored on `labels[t + 1]`.
  ///   - normalizer: The loss divisor; `nil` means this sequence's counted tokens.
  ///   - generator: Dropout masks (`nil`: no dropout).
  /// - Returns: The loss (`sum / normalizer`) and the number of counted tokens.
  /// - Throws: `QLoRAError` on bad input.
  public mutating func accumulateGradients(
    tokens: [Int], labels: [Int], normalizer: Float? = nil, generator: inout SeededGenerator?
  ) throws(QLoRAError) -> (loss: Float, tokens: Int) {
    guard labels.count == tokens.count else {
      throw .shapeMismatch(context: "labels", expected: tokens.count, found: labels.count)
    }
    let rope = try rope(tokens: tokens.count)
    var x = try embed(tokens)
    var inputs = [[Float]]()
    var generators = [SeededGenerator?]()
    // The last block's activations are kept (slimmed) from this pass: its backward comes first, so recomputing it
    // would only repeat what was just done (peak memory is unchanged: a backward holds one block's activations).
    // Earlier blocks are kept, slimmed, while they fit in `retainedActivationBytes`; the others are recomputed.
    var kept = [TrainingBlock.Activations?](repeating: nil, count: blocks.count)
    var keptBytes = 0
    let narrow = savedActivationPrecision == .bfloat16
    for (index, block) in blocks.enumerated() {
      inputs.append(x)
      generators.append(generator)
      let result = try block.forward(x, rope: rope, adapters: adapters, generator: &generator)
      x = result.output
      FreedMemory.release()
      if index == blocks.count - 1 {
        var last = result.activations.slimmed()
        if narrow { last.packBFloat16(threads: block.threads) }
        kept[index] = last
      } else if retainedActivationBytes > 0 {
        var slim = result.activations.slimmed()
        if narrow { slim.packBFloat16(threads: block.threads) }
        let bytes = slim.retainedBytes
        if keptBytes + bytes <= retainedActivationBytes {
          kept[index] = slim
          keptBytes += bytes
        }
      }
    }
    retainedBlocks = kept.dropLast().count { $0 != nil }
    lastRetainedBytes = keptBytes
    FreedMemory.release()
    let (normed, inverse) = try finalNorm.forward(x)
    var crossEntropy = ChunkedCrossEntropy(head: head, chunkTokens: lossChunkTokens)
    crossEntropy.softcap = finalLogitSoftcap
    let loss = try crossEntropy.lossAndGradient(
      hidden: normed, targets: ChunkedCrossEntropy.shiftedTargets(labels), normalizer: normalizer)
    guard loss.loss.isFinite else { return (loss.loss, loss.tokens) }
    var gradient = try finalNorm.backward(loss.hiddenGradient, x: x, inverseRMS: inverse)
    for index in blocks.indices.reversed() {
      var activations: TrainingBlock.Activations
      if let retained = kept[index] {
        activations = retained
        kept[index] = nil
        if narrow {
          try blocks[index].narrowForBackward(&activations)
        } else {
          try blocks[index].restore(&activations)
        }
      } else {
        var replay = generators[index]
        activations = try blocks[index].forward(
          inputs[index], rope: rope, adapters: adapters, generator: &replay, recompute: true
        ).activations
        if narrow { try blocks[index].narrowForBackward(&activations) }
      }
      inputs[index] = []
      gradient = try blocks[index].backward(gradient, activations: &activations, rope: rope, adapters: &adapters)
      FreedMemory.release()
    }
    return (loss.loss, loss.tokens)
  }

  /// Clears every adapter's accumulated gradients.
  public mutating func zeroGradients() {
    for name in adapters.keys { adapters[name]?.zeroGradients() }
  }
}
