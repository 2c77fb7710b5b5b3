import Foundation
public import QuantCore

/// A decoder-only language model loaded from a model folder, run on a ``KernelBackend``.
///
/// ```swift
/// let model = try LanguageModel.load(directory: URL(filePath: "Llama-3.2-1B"), quantization: .fourBit())
/// let cache = model.makeCache()
/// var next = try model.logits(for: promptIDs, cache: cache)      // prefill: last position's logits
/// next = try model.logits(for: [chosen], cache: cache)            // one decode step
/// ```
///
/// The model is immutable and may be shared between tasks; each sequence has its own ``KVCache``.
/// Computation is float32 (RMSNorm, RoPE, softmax and residuals as transformers computes them in fp32);
/// projections run through the backend's kernels on the weights as stored or quantized.
public final class LanguageModel: Sendable {
  /// What `config.json` says.
  public let configuration: ModelConfiguration
  /// Where the projections run.
  public let backend: any KernelBackend
  /// Positions processed per forward chunk during prefill (activations are `[chunk, hidden]`).
  public let prefillChunkSize: Int

  /// `model.embed_tokens.weight` `[vocab, hidden]`, as stored.
  package let embedding: Tensor
  /// The decoder layers.
  package let blocks: [DecoderBlock]
  /// `model.norm`.
  package let finalNorm: RMSNorm
  /// `lm_head` (or the embedding matrix when tied).
  package let outputProjection: any LinearLayer
  /// RoPE frequencies and scaling.
  package let rope: RotaryEmbedding
  private let adapters = Locked<[String: any LinearAdapter]>([:])

  package init(
    configuration: ModelConfiguration, backend: any KernelBackend, prefillChunkSize: Int, embedding: Tensor,
    blocks: [DecoderBlock], finalNorm: RMSNorm, outputProjection: any LinearLayer, rope: RotaryEmbedding
  ) {
    self.configuration = configuration
    self.backend = backend
    self.prefillChunkSize = max(1, prefillChunkSize)
    self.embedding = embedding
    self.blocks = blocks
    self.finalNorm = finalNorm
    self.outputProjection = outputProjection
    self.rope = rope
  }

  /// Every projection of the model with its module path, in model order (`lm_head` last).
  package var linears: [any LinearLayer] { blocks.flatMap(\.linears) + [outputProjection] }

  /// The module paths of the projections an adapter can attach to (`model.layers.0.self_attn.q_proj`, …).
  public var linearNames: [String] { linears.map(\.name) }

  /// Attaches (or with `nil` removes) an additive adapter on one projection, `y += adapter(x)`.
  ///
  /// - Parameters:
  ///   - adapter: The adapter.
  ///   - name: The projection's module path, one of ``linearNames``.
  /// - Throws: `LanguageModelError.invalidConfiguration` for an unknown name, or an adapter made for
  ///   another shape.
  public func setAdapter(_ adapter: (any LinearAdapter)?, for name: String) throws(LanguageModelError) {
    guard let linear = linears.first(where: { $0.name == name }) else {
      throw .invalidConfiguration(file: "adapter", key: name, reason: "the model has no projection with this name")
    }
    if let shape = adapter?.projectionShape, shape.inFeatures != linear.inFeatures || shape.outFeatures != linear.outFeatures {
      throw .invalidConfiguration(
        file: "adapter", key: name,
        reason: "the adapter is for \(shape.inFeatures) → \(shape.outFeatures) features, the projection has "
          + "\(linear.inFeatures) → \(linear.outFeatures)")
    }
    adapters.withLock { $0[name] = adapter }
  }

  /// The adapters registered now.
  var adapterTable: [String: any LinearAdapter] { adapters.withLock { $0 } }

  /// A new, empty cache for one sequence, storing float32 keys and values.
  public func makeCache() -> KVCache {
    KVCache(
      layerCount: configuration.layerCount, rowWidth: configuration.keyValueHeads * configuration.headDimension,
      maximumPositions: configuration.maxPositionEmbeddings, storage: .float32)
  }

  /// A new, empty cache for one sequence storing keys and values as `storage`.
  ///
  /// - Parameter storage: `.float32` (exact), `.float16` or `.bfloat16` (half the memory; each key and
  ///   value rounded once when stored).
  /// - Returns: The cache.
  /// - Throws: `LanguageModelError.invalidConfiguration` for other dtypes.
  public func makeCache(storage: DType) throws(LanguageModelError) -> KVCache {
    guard KVCache.storageTypes.contains(storage) else {
      throw .invalidConfiguration(
        file: "KVCache", key: "storage", reason: "\(storage) is not supported (supported: float32, float16, bfloat16)")
    }
    return KVCache(
      layerCount: configuration.layerCount, rowWidth: configuration.keyValueHeads * configuration.headDimension,
      maximumPositions: configuration.maxPositionEmbeddings, storage: storage)
  }

  /// Runs `tokens` after what `cache` holds and returns the logits of the last position.
  ///
  /// - Parameters:
  ///   - tokens: Token ids (the prompt, or one token per decode step).
  ///   - cache: The sequence's cache; it gains `tokens.count` positions.
  /// - Returns: `[vocab_size]` float32 logits.
  /// - Throws: `LanguageModelError` for bad ids, too long sequences or kernel failures (the cache is
  ///   then left as it was).
  public func logits(for tokens: [Int], cache: KVCache) throws(LanguageModelError) -> [Float] {
    try forward(tokens, cache: cache, allPositions: false)
  }

  /// Runs `tokens` after what `cache` holds and returns the logits of every new position.
  ///
  /// - Parameters:
  ///   - tokens: Token ids.
  ///   - cache: The sequence's cache; it gains `tokens.count` positions.
  /// - Returns: `[tokens.count × vocab_size]` float32 logits, row-major.
  /// - Throws: `LanguageModelError` as ``logits(for:cache:)``.
  public func logitsForAllPositions(for tokens: [Int], cache: KVCache) throws(LanguageModelError) -> [Float] {
    try forward(tokens, cache: cache, allPositions: true)
  }

  /// The memory the model holds: weights by format and, when given, a cache's storage.
  ///
  /// - Parameter cache: A cache to count, if any.
  /// - Returns: The accounting.
  public func memoryFootprint(including cache: KVCache? = nil) -> ModelMemoryFootprint {
    var bytes: [String: Int] = [:]
    var parameters: [String: Int] = [:]
    var all = linears.map(\.storage)
    if !configuration.tieWordEmbeddings {
      all.append(
        WeightStorage(format: embedding.dtype.rawValue, parameters: embedding.elementCount, bytes: embedding.byteCount))
    }
    let norms =
      blocks.flatMap { block in
        [
          block.inputNorm, block.postAttentionNorm, block.preFeedForwardNorm, block.postFeedForwardNorm,
          block.attention.queryNorm, block.attention.keyNorm,
        ].compactMap { $0 }
      } + [finalNorm]
    for norm in norms {
      all.append(WeightStorage(format: "float32", parameters: norm.scale.count, bytes: 4 * norm.scale.count))
    }
    for storage in all {
      bytes[storage.format, default: 0] += storage.bytes
      parameters[storage.format, default: 0] += storage.parameters
    }
    return ModelMemoryFootprint(
      weightBytesByFormat: bytes, parametersByFormat: parameters, cacheBytes: cache?.byteCount ?? 0)
  }
}
