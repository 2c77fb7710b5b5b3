/// Chooses the next token from logits: the processors of ``SamplingSettings`` in transformers' order, then
/// the argmax (greedy) or a draw from the softmax of the processed logits (sampling).
///
/// The draw inverts the cumulative distribution with the sampler's own ``SeededRandomNumberGenerator``, so a
/// seed reproduces a generation exactly; it does not reproduce torch's `multinomial` stream.
public struct TokenSampler: Sendable {
  /// The settings the sampler was made from.
  public let settings: SamplingSettings
  private let processors: [any LogitsProcessor]
  private var generator: SeededRandomNumberGenerator

  /// Creates a sampler.
  ///
  /// - Parameter settings: the sampling settings; the generator is seeded with `settings.seed`.
  /// - Throws: ``GenerationParameterError`` when a setting is out of range.
  public init(settings: SamplingSettings) throws(GenerationParameterError) {
    self.settings = settings
    self.processors = try settings.processors()
    self.generator = SeededRandomNumberGenerator(seed: settings.seed)
  }

  /// Applies the processors to `logits`.
  ///
  /// - Parameters:
  ///     - logits: next-token logits.
  ///     - tokens: the sequence so far (prompt and generated tokens).
  /// - Returns: the processed logits (removed tokens at `-inf`).
  public func process(_ logits: [Float], tokens: [Int]) -> [Float] {
    var result = logits
    for processor in processors { processor.process(&result, tokens: tokens) }
    return result
  }

  /// Chooses the next token.
  ///
  /// - Parameters:
  ///     - logits: next-token logits, one per vocabulary entry.
  ///     - tokens: the sequence so far (prompt and generated tokens).
  /// - Returns: the token id; -1 only when `logits` is empty.
  public mutating func next(logits: [Float], tokens: [Int]) -> Int {
    let processed = process(logits, tokens: tokens)
    guard settings.isSampling else { return LogitsMath.argmax(processed) }
    return Self.draw(from: LogitsMath.softmax(processed), uniform: generator.nextUnitInterval())
  }

  /// The index whose cumulative probability first exceeds `uniform` (the last positive one if rounding leaves
  /// `uniform` above the total).
  static func draw(from probabilities: [Float], uniform: Double) -> Int {
    let total = probabilities.reduce(0.0) { $0 + Double($1) }
    let target = uniform * total
    var cumulative = 0.0
    var lastPositive = LogitsMath.argmax(probabilities)
    for (index, probability) in probabilities.enumerated() where probability > 0 {
      cumulative += Double(probability)
      lastPositive = index
      if target < cumulative { return index }
    }
    return lastPositive
  }
}
