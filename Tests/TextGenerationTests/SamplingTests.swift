import Testing

@testable import TextGeneration

@Suite("Seeded sampling")
struct SamplingTests {
  static let logits: [Float] = (0..<50).map { Float(($0 * 37) % 50) / 10 }

  @Test func sameSeedSameTokens() throws {
    let settings = SamplingSettings(temperature: 1.0, topK: 20, topP: 0.95, seed: 42)
    var first = try TokenSampler(settings: settings)
    var second = try TokenSampler(settings: settings)
    let a = (0..<64).map { _ in first.next(logits: Self.logits, tokens: []) }
    let b = (0..<64).map { _ in second.next(logits: Self.logits, tokens: []) }
    #expect(a == b)
    var other = try TokenSampler(settings: SamplingSettings(temperature: 1.0, topK: 20, topP: 0.95, seed: 43))
    let c = (0..<64).map { _ in other.next(logits: Self.logits, tokens: []) }
    #expect(a != c)
  }

  @Test func generatorSequenceIsFixed() {
    // Pins the PRNG (xoshiro256** seeded by SplitMix64) so that seeds keep their meaning across releases.
    var generator = SeededRandomNumberGenerator(seed: 0)
    let values = (0..<3).map { _ in generator.next() }
    #expect(values == Self.referenceXoshiro(seed: 0, count: 3))
  }

  @Test func drawsFollowTheDistribution() throws {
    // Two tokens with probabilities 0.2 and 0.8 (logits log 0.2, log 0.8): 20000 draws land within 2% of that.
    var sampler = try TokenSampler(settings: SamplingSettings(temperature: 1, seed: 7))
    let logits: [Float] = [Float(-1.6094379), Float(-0.22314355), -.infinity]
    var counts = [0, 0, 0]
    for _ in 0..<20000 { counts[sampler.next(logits: logits, tokens: [])] += 1 }
    #expect(counts[2] == 0)
    #expect(abs(Double(counts[0]) / 20000 - 0.2) < 0.02)
  }

  @Test func sampledTokensStayInsideTheKeptSet() throws {
    var sampler = try TokenSampler(settings: SamplingSettings(temperature: 2.0, topK: 3, seed: 1))
    let kept = Set(Self.logits.indices.sorted { Self.logits[$0] > Self.logits[$1] }.prefix(3))
    for _ in 0..<500 { #expect(kept.contains(sampler.next(logits: Self.logits, tokens: []))) }
  }

  @Test func drawEdgeCases() {
    #expect(TokenSampler.draw(from: [0, 1, 0], uniform: 0) == 1)
    #expect(TokenSampler.draw(from: [0.5, 0.5, 0], uniform: 0.9999999999) == 1)
    #expect(TokenSampler.draw(from: [0.25, 0.25, 0.5], uniform: 0.3) == 1)
  }

  @Test func invalidSettingsNameTheSetting() {
    #expect(throws: GenerationParameterError.invalid("temperature", "must be >= 0 (0 is greedy), got -1.0")) {
      try SamplingSettings(temperature: -1).processors()
    }
    #expect(throws: GenerationParameterError.self) { try SamplingSettings(temperature: 1, topP: 1.5).processors() }
    #expect(throws: GenerationParameterError.self) { try SamplingSettings(temperature: 1, topK: -2).processors() }
    #expect(throws: GenerationParameterError.self) { try SamplingSettings(temperature: 1, minP: 2).processors() }
    #expect(throws: GenerationParameterError.self) { try SamplingSettings(repetitionPenalty: 0).processors() }
  }

  @Test func greedyIgnoresWarpers() throws {
    let settings = SamplingSettings(temperature: 0, topK: 1, topP: 0.1, minP: 0.5)
    #expect(try settings.processors().isEmpty)
  }

  /// An independent transcription of the reference C code of xoshiro256** and SplitMix64.
  static func referenceXoshiro(seed: UInt64, count: Int) -> [UInt64] {
    var x = seed
    var s = [UInt64](repeating: 0, count: 4)
    for i in 0..<4 {
      x = x &+ 0x9e37_79b9_7f4a_7c15
      var z = x
      z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
      z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
      s[i] = z ^ (z >> 31)
    }
    func rotl(_ v: UInt64, _ k: UInt64) -> UInt64 { (v << k) | (v >> (64 - k)) }
    var result: [UInt64] = []
    for _ in 0..<count {
      result.append(rotl(s[1] &* 5, 7) &* 9)
      let t = s[1] << 17
      s[2] ^= s[0]
      s[3] ^= s[1]
      s[1] ^= s[2]
      s[0] ^= s[3]
      s[2] ^= t
      s[3] = rotl(s[3], 45)
    }
    return result
  }
}
