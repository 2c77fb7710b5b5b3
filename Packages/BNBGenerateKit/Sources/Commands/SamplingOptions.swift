import ArgumentParser
import LanguageModels
import TextGeneration

/// The options that say how tokens are chosen and when generation stops.
struct SamplingOptions: ParsableArguments {
  @Option(name: .long, help: "Tokens to generate at most (0 runs the prompt only).")
  var maxNewTokens: Int = 128

  @Option(name: .long, help: "Sampling temperature; 0 is greedy decoding.")
  var temperature: Float = 0

  @Option(name: .long, help: "Keep the k most likely tokens (0 disables).")
  var topK: Int = 0

  @Option(name: .long, help: "Keep the most likely tokens up to this probability mass (1 disables).")
  var topP: Float = 1

  @Option(name: .long, help: "Drop tokens less likely than this fraction of the top one.")
  var minP: Float?

  @Option(name: .long, help: "transformers' repetition penalty (1 disables).")
  var repetitionPenalty: Float = 1

  @Option(name: .long, help: "Random seed of the sampler.")
  var seed: UInt64 = 0

  @Option(name: .long, help: "Stop when the text contains this string (repeatable).")
  var stop: [String] = []

  func validate() throws {
    if maxNewTokens < 0 { throw ValidationError("--max-new-tokens must be 0 or positive") }
  }

  /// The sampler these options describe.
  func sampler() throws(GenerateFailure) -> TokenSampler {
    do {
      return try TokenSampler(
        settings: SamplingSettings(
          temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty,
          seed: seed))
    } catch {
      throw .settings(error)
    }
  }

  /// The stopping criteria: these options with the model's end-of-sequence ids.
  func stopping(for configuration: ModelConfiguration, extraEndOfSequence: [Int] = []) -> StoppingCriteria {
    StoppingCriteria(
      maxNewTokens: maxNewTokens, endOfSequenceTokens: Set(configuration.eosTokenIDs + extraEndOfSequence),
      stopStrings: stop)
  }
}
