import Foundation

/// The speed and memory of one generation, as `bnb-generate` prints them.
public struct GenerationFigures: Sendable, Equatable, Codable {
  /// Tokens run through the model before the first new token (the prompt, less what a chat cache held).
  public var prefillTokens: Int
  /// Seconds spent on those tokens.
  public var prefillSeconds: Double
  /// Tokens generated.
  public var generatedTokens: Int
  /// Seconds from the first generated token to the last.
  public var decodeSeconds: Double
  /// Seconds from the start until the first generated token was chosen.
  public var timeToFirstToken: Double
  /// The process's peak resident memory, in bytes.
  public var peakResidentBytes: Int

  /// Prefill tokens per second (0 when nothing was measured).
  public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(prefillTokens) / prefillSeconds : 0 }
  /// Decode tokens per second: the tokens after the first, over the time they took (0 with fewer than 2).
  public var decodeTokensPerSecond: Double {
    generatedTokens > 1 && decodeSeconds > 0 ? Double(generatedTokens - 1) / decodeSeconds : 0
  }

  enum CodingKeys: String, CodingKey {
    case prefillTokens = "prefill_tokens"
    case prefillSeconds = "prefill_seconds"
    case generatedTokens = "generated_tokens"
    case decodeSeconds = "decode_seconds"
    case timeToFirstToken = "time_to_first_token_seconds"
    case peakResidentBytes = "peak_rss_bytes"
    case prefillTokensPerSecond = "prefill_tokens_per_second"
    case decodeTokensPerSecond = "decode_tokens_per_second"
  }

  /// Creates figures.
  ///
  /// - Parameters:
  ///   - prefillTokens: Tokens of the prefill.
  ///   - prefillSeconds: Its duration.
  ///   - generatedTokens: Tokens generated.
  ///   - decodeSeconds: Seconds from the first generated token to the last.
  ///   - timeToFirstToken: Seconds to the first token.
  ///   - peakResidentBytes: Peak RSS.
  public init(
    prefillTokens: Int, prefillSeconds: Double, generatedTokens: Int, decodeSeconds: Double, timeToFirstToken: Double,
    peakResidentBytes: Int
  ) {
    self.prefillTokens = prefillTokens
    self.prefillSeconds = prefillSeconds
    self.generatedTokens = generatedTokens
    self.decodeSeconds = decodeSeconds
    self.timeToFirstToken = timeToFirstToken
    self.peakResidentBytes = peakResidentBytes
  }

  /// Reads figures from their JSON form (the rates are derived, not read).
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    prefillTokens = try container.decode(Int.self, forKey: .prefillTokens)
    prefillSeconds = try container.decode(Double.self, forKey: .prefillSeconds)
    generatedTokens = try container.decode(Int.self, forKey: .generatedTokens)
    decodeSeconds = try container.decode(Double.self, forKey: .decodeSeconds)
    timeToFirstToken = try container.decode(Double.self, forKey: .timeToFirstToken)
    peakResidentBytes = try container.decode(Int.self, forKey: .peakResidentBytes)
  }

  /// Writes the figures and the derived rates with snake-case keys.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(prefillTokens, forKey: .prefillTokens)
    try container.encode(prefillSeconds, forKey: .prefillSeconds)
    try container.encode(generatedTokens, forKey: .generatedTokens)
    try container.encode(decodeSeconds, forKey: .decodeSeconds)
    try container.encode(timeToFirstToken, forKey: .timeToFirstToken)
    try container.encode(peakResidentBytes, forKey: .peakResidentBytes)
    try container.encode(prefillTokensPerSecond, forKey: .prefillTokensPerSecond)
    try container.encode(decodeTokensPerSecond, forKey: .decodeTokensPerSecond)
  }

  /// The one-line summary printed after the text.
  var summary: String {
    let memory = Double(peakResidentBytes) / 1_048_576
    return String(
      format: "prefill %d tokens, %.1f tok/s · decode %d tokens, %.1f tok/s · first token %.0f ms · peak RSS %.1f MiB",
      prefillTokens, prefillTokensPerSecond, generatedTokens, decodeTokensPerSecond, timeToFirstToken * 1000, memory)
  }
}
