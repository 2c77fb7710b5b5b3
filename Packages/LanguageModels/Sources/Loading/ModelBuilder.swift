import QuantCore

/// Assembles a ``LanguageModel`` from a configuration and a folder's tensors, checking every tensor
/// against the shapes `config.json` implies.
struct ModelBuilder {
  let configuration: ModelConfiguration
  let source: WeightSource
  let backend: any KernelBackend

  func build(prefillChunkSize: Int, progress: ((Int, Int) -> Void)?) throws(LanguageModelError) -> LanguageModel {
    let config = configuration
    let embedding = try source.plain("model.embed_tokens.weight", shape: [config.vocabularySize, config.hiddenSize])
    var blocks: [DecoderBlock] = []
    for index in 0..<config.layerCount {
      blocks.append(try block(index))
      progress?(index + 1, config.layerCount)
    }
    let output: any LinearLayer
    if config.tieWordEmbeddings {
      output = DenseProjection(name: "lm_head", weight: embedding, bias: nil)
    } else {
      output = try source.linear("lm_head", out: config.vocabularySize, in: config.hiddenSize, bias: false)
    }
    return LanguageModel(
      configuration: config, backend: backend, prefillChunkSize: prefillChunkSize, embedding: embedding,
      blocks: blocks, finalNorm: try norm("model.norm", width: config.hiddenSize), outputProjection: output,
      rope: try RotaryEmbedding(configuration: config))
  }

  private func norm(_ module: String, width: Int) throws(LanguageModelError) -> RMSNorm {
    RMSNorm(
      name: module, weight: try source.floats(module + ".weight", count: width), epsilon: configuration.rmsNormEpsilon,
      addsOne: configuration.normAddsOne)
  }

  private func block(_ index: Int) throws(LanguageModelError) -> DecoderBlock {
    let config = configuration
    let prefix = "model.layers.\(index)"
    let hidden = config.hiddenSize
    let queryWidth = config.attentionHeads * config.headDimension
    let kvWidth = config.keyValueHeads * config.headDimension
    let attentionPrefix = prefix + ".self_attn"
    let qkv: QKVProjection
    if config.architecture == .phi3 {
      qkv = .fused(try source.linear(attentionPrefix + ".qkv_proj", out: queryWidth + 2 * kvWidth, in: hidden, bias: false))
    } else {
      let bias = config.attentionBias
      qkv = .separate(
        query: try source.linear(attentionPrefix + ".q_proj", out: queryWidth, in: hidden, bias: bias),
        key: try source.linear(attentionPrefix + ".k_proj", out: kvWidth, in: hidden, bias: bias),
        value: try source.linear(attentionPrefix + ".v_proj", out: kvWidth, in: hidden, bias: bias))
    }
    // Qwen2 biases q/k/v only; Llama's and Qwen3's attention_bias covers o_proj too.
    let outputBias = config.attentionBias && config.architecture != .qwen2
    let output = try source.linear(attentionPrefix + ".o_proj", out: hidden, in: queryWidth, bias: outputBias)
    var queryNorm: RMSNorm? = nil
    var keyNorm: RMSNorm? = nil
    if config.architecture == .qwen3 {
      queryNorm = try norm(attentionPrefix + ".q_norm", width: config.headDimension)
      keyNorm = try norm(attentionPrefix + ".k_norm", width: config.headDimension)
    }
    let attention = SelfAttention(
      layer: index, qkv: qkv, output: output, queryNorm: queryNorm, keyNorm: keyNorm, heads: config.attentionHeads,
      keyValueHeads: config.keyValueHeads, headDimension: config.headDimension, scale: Float(config.attentionScale),
      softcap: config.attentionLogitSoftcap.map { Float($0) },
      window: config.layerTypes[index] == .sliding ? config.slidingWindow : nil)

    let mlpPrefix = prefix + ".mlp"
    let intermediate = config.intermediateSize
    let gateUp: GateUpProjection
    if config.architecture == .phi3 {
      gateUp = .fused(try source.linear(mlpPrefix + ".gate_up_proj", out: 2 * intermediate, in: hidden, bias: false))
    } else {
      gateUp = .separate(
        gate: try source.linear(mlpPrefix + ".gate_proj", out: intermediate, in: hidden, bias: config.mlpBias),
        up: try source.linear(mlpPrefix + ".up_proj", out: intermediate, in: hidden, bias: config.mlpBias))
    }
    let down = try source.linear(mlpPrefix + ".down_proj", out: hidden, in: intermediate, bias: config.mlpBias)
    let feedForward = FeedForward(gateUp: gateUp, down: down, activation: config.activation, intermediateSize: intermediate)

    let gemma = config.architecture == .gemma2
    return DecoderBlock(
      index: index, inputNorm: try norm(prefix + ".input_layernorm", width: hidden),
      postAttentionNorm: try norm(prefix + ".post_attention_layernorm", width: hidden),
      preFeedForwardNorm: gemma ? try norm(prefix + ".pre_feedforward_layernorm", width: hidden) : nil,
      postFeedForwardNorm: gemma ? try norm(prefix + ".post_feedforward_layernorm", width: hidden) : nil,
      attention: attention, feedForward: feedForward)
  }
}
