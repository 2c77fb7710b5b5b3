import CPUKernels
import Foundation
package import QuantCore

extension LanguageModel {
  func forward(_ tokens: [Int], cache: KVCache, allPositions: Bool) throws(LanguageModelError) -> [Float] {
    let config = configuration
    guard !tokens.isEmpty else { throw .emptyInput }
    for token in tokens where token < 0 || token >= config.vocabularySize {
      throw .invalidToken(token, vocabularySize: config.vocabularySize)
    }
    guard cache.layerCount == config.layerCount, cache.rowWidth == config.keyValueHeads * config.headDimension else {
      throw .invalidConfiguration(file: "cache", key: "KVCache", reason: "the cache was made by a different model")
    }
    let end = cache.count + tokens.count
    guard end <= config.maxPositionEmbeddings else {
      throw .sequenceTooLong(positions: end, maximum: config.maxPositionEmbeddings)
    }
    // LongRoPE picks its factors per call from the sequence length; when that choice changes, the cached
    // keys are recomputed with the new factors (transformers' Phi-3 drops its cache the same way).
    let savedTokens = cache.tokens
    let usesLong = rope.longInverseFrequencies != nil && end > rope.longThreshold
    var run = tokens
    var firstOutput = 0
    if cache.count > 0, usesLong != cache.usesLongFactors {
      run = savedTokens + tokens
      firstOutput = savedTokens.count
      cache.reset()
    }
    let vocabulary = config.vocabularySize
    var result = [Float](repeating: 0, count: (allPositions ? tokens.count : 1) * vocabulary)
    let adapterSnapshot = adapterTable
    let startCount = cache.count
    cache.reserve(run.count)
    do throws(LanguageModelError) {
      var offset = 0
      while offset < run.count {
        let rows = min(prefillChunkSize, run.count - offset)
        let isLast = offset + rows == run.count
        let state = try runChunk(run[offset..<offset + rows], cache: cache, lastPosition: end - 1, adapters: adapterSnapshot)
        let hidden = config.hiddenSize
        if allPositions, offset + rows > firstOutput {
          let skip = max(0, firstOutput - offset)
          let outRows = rows - skip
          let outStart = offset + skip - firstOutput
          try result.withUnsafeMutableBufferPointer { (out) throws(LanguageModelError) in
            let target = UnsafeMutableBufferPointer(
              rebasing: out[outStart * vocabulary..<(outStart + outRows) * vocabulary])
            let source = UnsafeBufferPointer(rebasing: state[skip * hidden..<rows * hidden])
            try project(source, rows: outRows, into: target, cache: cache, adapters: adapterSnapshot)
          }
        } else if !allPositions, isLast {
          let lastRow = UnsafeBufferPointer(rebasing: state[(rows - 1) * hidden..<rows * hidden])
          try result.withUnsafeMutableBufferPointer { (out) throws(LanguageModelError) in
            try project(lastRow, rows: 1, into: out, cache: cache, adapters: adapterSnapshot)
          }
        }
        offset += rows
      }
      cache.usesLongFactors = usesLong
    } catch {
      cache.truncate(to: startCount)
      throw error
    }
    return result
  }

  /// Embeds `tokens`, runs every layer over them and advances the cache; returns the final hidden states
  /// (before the last norm) in the workspace.
  private func runChunk(
    _ tokens: ArraySlice<Int>, cache: KVCache, lastPosition: Int, adapters: [String: any LinearAdapter]
  ) throws(LanguageModelError) -> UnsafeBufferPointer<Float> {
    let config = configuration
    let rows = tokens.count
    let hidden = config.hiddenSize
    let workspace = cache.workspace
    let stateStart = workspace.pointer("model.state", count: rows * hidden)
    let state = UnsafeMutableBufferPointer(start: stateStart, count: rows * hidden)
    embed(tokens, into: state)
    let half = rope.rotaryDimension / 2
    let cos = workspace.buffer("rope.cos", count: rows * half)
    let sin = workspace.buffer("rope.sin", count: rows * half)
    rope.tables(start: cache.count, count: rows, lastPosition: lastPosition, cos: cos, sin: sin)
    let context = ForwardContext(
      cache: cache, backend: backend, rope: rope, cos: UnsafeBufferPointer(cos), sin: UnsafeBufferPointer(sin),
      adapters: adapters, threads: attentionThreads)
    for block in blocks { try block.forward(stateStart, rows: rows, width: hidden, context: context) }
    cache.advance(with: tokens)
    return UnsafeBufferPointer(state)
  }

  /// Threads for attention: the CPU backend's setting (0: one per core), one per core for other backends.
  package var attentionThreads: Int {
    let cores = activeProcessorCount()
    guard let cpu = backend as? CPUBackend else { return cores }
    return cpu.threads > 0 ? cpu.threads : cores
  }

  /// Final norm, output projection and (Gemma 2) final soft-capping of `rows` hidden states.
  private func project(
    _ states: UnsafeBufferPointer<Float>, rows: Int, into output: UnsafeMutableBufferPointer<Float>, cache: KVCache,
    adapters: [String: any LinearAdapter]
  ) throws(LanguageModelError) {
    let count = rows * configuration.hiddenSize
    let normedStart = cache.workspace.pointer("model.normed", count: count)
    let normed = UnsafeMutableBufferPointer(start: normedStart, count: count)
    guard let statesStart = states.baseAddress else { return }
    finalNorm.apply(statesStart, rows: rows, into: normedStart)
    try outputProjection.apply(UnsafeBufferPointer(normed), rows: rows, into: output, backend: backend)
    if let adapter = adapters[outputProjection.name] {
      adapter.addDelta(input: UnsafeBufferPointer(normed), rows: rows, output: output)
    }
    if let cap = configuration.finalLogitSoftcap {
      let capF = Float(cap)
      for i in 0..<output.count { output[i] = tanh(output[i] / capF) * capF }
    }
  }

  /// Looks up embedding rows (converted to float32) and applies Gemma's `sqrt(hidden_size)` scaling.
  private func embed(_ tokens: ArraySlice<Int>, into state: UnsafeMutableBufferPointer<Float>) {
    let hidden = configuration.hiddenSize
    let rowBytes = hidden * embedding.dtype.byteSize
    embedding.withUnsafeBytes { table in
      for (row, token) in tokens.enumerated() {  // enumerated() counts from 0 on a slice
        let source = UnsafeRawBufferPointer(rebasing: table[token * rowBytes..<(token + 1) * rowBytes])
        let target = UnsafeMutableBufferPointer(rebasing: state[row * hidden..<(row + 1) * hidden])
        ElementConversion.load(source, as: embedding.dtype, into: target)
      }
    }
    if configuration.scalesEmbeddings {
      let scale = Self.embeddingScale(hiddenSize: hidden, dtype: embedding.dtype)
      for i in 0..<tokens.count * hidden { state[i] *= scale }
    }
  }

  /// Gemma's embedding multiplier: `sqrt(hidden_size)` rounded to the embedding's dtype, as transformers'
  /// `embed_scale.to(self.weight.dtype)` (59.75 for hidden 3584 in bfloat16, 59.8665 in float32).
  package static func embeddingScale(hiddenSize: Int, dtype: DType) -> Float {
    let scale = Float(Double(hiddenSize).squareRoot())
    switch dtype {
    case .bfloat16: return HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(scale))
    case .float16: return HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(scale))
    default: return scale
    }
  }
}
