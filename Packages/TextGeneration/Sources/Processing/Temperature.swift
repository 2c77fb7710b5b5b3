/// transformers' `TemperatureLogitsWarper`: divides every logit by the temperature.
public struct Temperature: LogitsProcessor {
  /// The temperature, greater than zero.
  public let temperature: Float

  /// Creates the warper.
  ///
  /// - Parameter temperature: greater than zero (zero means greedy decoding, which uses no warper).
  /// - Throws: ``GenerationParameterError/invalid(_:_:)`` when `temperature` is not a finite positive number.
  public init(temperature: Float) throws(GenerationParameterError) {
    guard temperature.isFinite, temperature > 0 else {
      throw .invalid("temperature", "must be > 0 for sampling, got \(temperature)")
    }
    self.temperature = temperature
  }

  /// Applies the processor to `logits` (see the type's description).
  public func process(_ logits: inout [Float], tokens: [Int]) {
    for index in logits.indices { logits[index] /= temperature }
  }
}
