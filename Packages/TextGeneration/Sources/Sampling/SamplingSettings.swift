/// How the next token is chosen: the settings of transformers' `GenerationConfig` that shape the logits.
///
/// A temperature of 0 means greedy decoding (`do_sample=False`): the repetition penalty still applies, the
/// warpers (top-k, top-p, min-p) do not. Settings at their neutral values add no processor, as in transformers.
public struct SamplingSettings: Sendable, Equatable {
  /// 0 for greedy decoding; otherwise the sampling temperature.
  public var temperature: Float
  /// Keep only the `topK` most likely tokens; 0 disables.
  public var topK: Int
  /// Keep the most likely tokens whose probabilities add up to `topP`; 1 disables.
  public var topP: Float
  /// Drop tokens less likely than `minP` times the most likely one; `nil` disables.
  public var minP: Float?
  /// transformers' repetition penalty; 1 disables.
  public var repetitionPenalty: Float
  /// The seed of the sampler's random numbers; the same seed, logits and settings give the same tokens.
  public var seed: UInt64

  /// Creates settings; the defaults are greedy decoding with no penalty.
  ///
  /// - Parameters:
  ///     - temperature: 0 for greedy decoding, otherwise > 0.
  ///     - topK: 0 disables.
  ///     - topP: 1 disables.
  ///     - minP: `nil` disables.
  ///     - repetitionPenalty: 1 disables.
  ///     - seed: the random seed.
  public init(
    temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float? = nil, repetitionPenalty: Float = 1,
    seed: UInt64 = 0
  ) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.minP = minP
    self.repetitionPenalty = repetitionPenalty
    self.seed = seed
  }

  /// Whether tokens are drawn at random (`do_sample`), rather than chosen greedily.
  public var isSampling: Bool { temperature != 0 }

  /// The processors in the order transformers' `generate` applies them: repetition penalty, then (sampling
  /// only) temperature, top-k, top-p, min-p.
  ///
  /// - Returns: the processors; empty when every setting is neutral.
  /// - Throws: ``GenerationParameterError`` naming the first setting out of range.
  public func processors() throws(GenerationParameterError) -> [any LogitsProcessor] {
    guard temperature >= 0, temperature.isFinite else {
      throw .invalid("temperature", "must be >= 0 (0 is greedy), got \(temperature)")
    }
    guard topK >= 0 else { throw .invalid("top-k", "must be >= 0 (0 disables), got \(topK)") }
    guard topP > 0, topP <= 1 else { throw .invalid("top-p", "must be in (0, 1] (1 disables), got \(topP)") }
    if let minP, !(0...1).contains(minP) { throw .invalid("min-p", "must be in [0, 1], got \(minP)") }
    var result: [any LogitsProcessor] = []
    if repetitionPenalty != 1 { result.append(try RepetitionPenalty(penalty: repetitionPenalty)) }
    guard isSampling else { return result }
    if temperature != 1 { result.append(try Temperature(temperature: temperature)) }
    if topK != 0 { result.append(try TopK(k: topK)) }
    if topP < 1 { result.append(try TopP(p: topP)) }
    if let minP { result.append(try MinP(minP: minP)) }
    return result
  }
}
