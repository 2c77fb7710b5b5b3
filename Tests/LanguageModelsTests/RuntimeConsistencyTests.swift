import Foundation
import LanguageModels
import QuantCore
import Testing

/// The runtime agrees with itself: cached decoding, chunked prefill and thread counts do not change
/// the logits.
@Suite("Runtime consistency")
struct RuntimeConsistencyTests {
  /// Each decode step through the cache against a fresh full forward pass of the same prefix.
  @Test(arguments: LanguageModelFixture.names)
  func cachedDecodeEqualsFullRecomputation(name: String) throws {
    let fixture = try LanguageModelFixture(name)
    let model = try fixture.load()
    let sequence = fixture.prompt + fixture.greedy
    let cache = model.makeCache()
    var cached = try model.logits(for: fixture.prompt, cache: cache)
    var worst: Float = 0
    for length in fixture.prompt.count...sequence.count {
      let full = try model.logitsForAllPositions(for: Array(sequence[0..<length]), cache: model.makeCache())
      worst = max(worst, relativeError(cached, Array(full.suffix(model.configuration.vocabularySize))))
      if length < sequence.count { cached = try model.logits(for: [sequence[length]], cache: cache) }
    }
    #expect(cache.count == sequence.count)
    #expect(worst <= 1e-5, "\(name): \(worst)")
  }

  /// Prefill in chunks against one chunk: chunks of 16 rows (the GEMM path, like the whole prompt) give
  /// identical logits; chunks of 3 rows run the GEMV kernels, which sum in another order (measured ≤ 1e-6).
  @Test(arguments: LanguageModelFixture.names)
  func chunkedPrefillEqualsOneChunk(name: String) throws {
    let fixture = try LanguageModelFixture(name)
    let sequence = fixture.prompt + fixture.greedy
    let whole = try fixture.load(chunk: 256)
    let a = try whole.logitsForAllPositions(for: sequence, cache: whole.makeCache())
    let sixteen = try fixture.load(chunk: 16)
    #expect(try sixteen.logitsForAllPositions(for: sequence, cache: sixteen.makeCache()) == a)
    let three = try fixture.load(chunk: 3)
    #expect(relativeError(try three.logitsForAllPositions(for: sequence, cache: three.makeCache()), a) <= 1e-5)
  }

  /// One and two threads give bit-identical logits.
  @Test(arguments: LanguageModelFixture.names)
  func threadCountDoesNotChangeLogits(name: String) throws {
    let fixture = try LanguageModelFixture(name)
    let sequence = fixture.prompt + fixture.greedy
    let one = try fixture.load(threads: 1)
    let two = try fixture.load(threads: 2)
    #expect(
      try one.logitsForAllPositions(for: sequence, cache: one.makeCache())
        == two.logitsForAllPositions(for: sequence, cache: two.makeCache()))
    #expect(try greedyIDs(two, prompt: fixture.prompt, count: 8) == Array(fixture.greedy.prefix(8)))
  }

  /// A truncated cache continues like a fresh one (chat prefix reuse).
  @Test func truncatedCacheReusesThePrefix() throws {
    let fixture = try LanguageModelFixture("llama")
    let model = try fixture.load()
    let cache = model.makeCache()
    _ = try model.logits(for: fixture.prompt + fixture.greedy.prefix(5), cache: cache)
    cache.truncate(to: fixture.prompt.count)
    #expect(cache.tokens == fixture.prompt)
    let reused = try model.logits(for: Array(fixture.greedy.prefix(3)), cache: cache)
    let fresh = try model.logits(for: fixture.prompt + fixture.greedy.prefix(3), cache: model.makeCache())
    #expect(relativeError(reused, fresh) <= 1e-5)
  }

  /// Half-precision caches take half the memory and stay close to the float32 cache; decoding through
  /// them still equals a full forward pass with the same storage.
  @Test(arguments: [DType.float16, .bfloat16])
  func halfPrecisionCache(storage: DType) throws {
    let fixture = try LanguageModelFixture("gemma2")
    let model = try fixture.load()
    let sequence = fixture.prompt + fixture.greedy
    let exactCache = model.makeCache()
    let exact = try model.logitsForAllPositions(for: sequence, cache: exactCache)
    let cache = try model.makeCache(storage: storage)
    let half = try model.logitsForAllPositions(for: sequence, cache: cache)
    let error = relativeError(half, exact)
    print("\(storage) cache: relative error \(error)")
    #expect(error > 0 && error <= 2e-2)
    #expect(cache.byteCount * 2 == exactCache.byteCount)
    #expect(model.memoryFootprint(including: cache).cacheBytes == cache.byteCount)
    let stepwise = try model.makeCache(storage: storage)
    _ = try model.logits(for: fixture.prompt, cache: stepwise)
    var last: [Float] = []
    for token in fixture.greedy { last = try model.logits(for: [token], cache: stepwise) }
    #expect(relativeError(last, Array(half.suffix(model.configuration.vocabularySize))) <= 1e-3)
    #expect(throws: LanguageModelError.self) { try model.makeCache(storage: .int8) }
  }

  /// A chat turn re-sends the conversation; only the part after the common prefix is computed.
  @Test func keepCommonPrefixRunsOnlyTheNewTokens() throws {
    let fixture = try LanguageModelFixture("gemma2")
    let model = try fixture.load()
    let cache = model.makeCache()
    let first = fixture.prompt + fixture.greedy.prefix(4)
    _ = try model.logits(for: first, cache: cache)
    // The next turn shares the prompt, then diverges.
    let second = fixture.prompt + [7, 8, 9]
    let rest = cache.keepCommonPrefix(with: second)
    #expect(Array(rest) == [7, 8, 9])
    #expect(cache.count == fixture.prompt.count)
    let reused = try model.logits(for: Array(rest), cache: cache)
    let fresh = try model.logits(for: second, cache: model.makeCache())
    #expect(relativeError(reused, fresh) <= 1e-5)
    // Sending exactly what is cached keeps all but the last token, so there are logits to return.
    #expect(Array(cache.keepCommonPrefix(with: second)) == [9])
    #expect(cache.keepCommonPrefix(with: []).isEmpty)
  }

  /// An adapter's delta lands on its projection's output.
  @Test func adapterAddsToItsProjection() throws {
    struct AddOne: LinearAdapter {
      func addDelta(input: UnsafeBufferPointer<Float>, rows: Int, output: UnsafeMutableBufferPointer<Float>) {
        for i in output.indices { output[i] += 1 }
      }
    }
    let fixture = try LanguageModelFixture("llama")
    let model = try fixture.load()
    #expect(model.linearNames.contains("model.layers.1.self_attn.q_proj"))
    #expect(model.linearNames.last == "lm_head")
    let plain = try model.logits(for: fixture.prompt, cache: model.makeCache())
    try model.setAdapter(AddOne(), for: "lm_head")
    let shifted = try model.logits(for: fixture.prompt, cache: model.makeCache())
    #expect(zip(plain, shifted).allSatisfy { abs($0 + 1 - $1) <= 1e-5 })
    try model.setAdapter(AddOne(), for: "model.layers.0.mlp.down_proj")
    #expect(try model.logits(for: fixture.prompt, cache: model.makeCache()) != shifted)
    try model.setAdapter(nil, for: "model.layers.0.mlp.down_proj")
    try model.setAdapter(nil, for: "lm_head")
    #expect(try model.logits(for: fixture.prompt, cache: model.makeCache()) == plain)
    #expect(throws: LanguageModelError.self) { try model.setAdapter(AddOne(), for: "model.layers.9.q_proj") }
  }

  /// Loading reports each decoder layer.
  @Test func loadingReportsProgress() throws {
    let fixture = try LanguageModelFixture("phi3-default")
    var seen: [[Int]] = []
    _ = try LanguageModel.load(directory: fixture.directory, threads: 1) { seen.append([$0, $1]) }
    #expect(seen == [[1, 2], [2, 2]])
  }

  /// Weights by format, and the cache's storage.
  @Test func memoryFootprintCountsWeightsAndCache() throws {
    let fixture = try LanguageModelFixture("llama")
    let model = try fixture.load()
    let footprint = model.memoryFootprint()
    let file = try Data(contentsOf: fixture.directory.appending(path: "model.safetensors"))
    // Every matrix is stored bf16; the norms are counted as the float32 copies the runtime holds.
    let config = model.configuration
    let normFloats = config.hiddenSize * (2 * config.layerCount + 1)
    #expect(footprint.weightBytesByFormat["float32"] == 4 * normFloats)
    let bf16 = footprint.weightBytesByFormat["bfloat16"] ?? 0
    #expect(bf16 + 2 * normFloats < file.count && file.count - (bf16 + 2 * normFloats) < 4096)  // header only
    let cache = model.makeCache()
    _ = try model.logits(for: fixture.prompt, cache: cache)
    let withCache = model.memoryFootprint(including: cache)
    // One chunk of 256 positions, clamped to max_position_embeddings (64).
    #expect(cache.capacity == 64)
    #expect(withCache.cacheBytes == 2 * config.layerCount * 64 * config.keyValueHeads * config.headDimension * 4)
    #expect(withCache.totalBytes == footprint.weightBytes + withCache.cacheBytes)
  }
}
