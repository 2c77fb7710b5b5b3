import Testing

@testable import TextGeneration

@Suite("Logits processors equal transformers'")
struct ProcessorParityTests {
  @Test func fixturesLoad() {
    #expect(ProcessorFixture.all.count == 60)
  }

  @Test(arguments: ProcessorFixture.all)
  func processedLogitsAndDistribution(_ fixture: ProcessorFixture) throws {
    let settings = SamplingSettings(
      temperature: fixture.settings.temperature, topK: fixture.settings.topK, topP: fixture.settings.topP,
      minP: fixture.settings.minP, repetitionPenalty: fixture.settings.repetitionPenalty)
    let sampler = try TokenSampler(settings: settings)
    #expect(try settings.processors().map(Self.transformersName) == fixture.processors)

    let processed = sampler.process(ProcessorFixture.values(fixture.logits), tokens: fixture.tokens)
    let expected = ProcessorFixture.values(fixture.processed)
    #expect(processed.count == expected.count)
    for (index, (ours, theirs)) in zip(processed, expected).enumerated() {
      if theirs == -.infinity {
        #expect(ours == -.infinity, "token \(index) should be removed")
      } else {
        #expect(abs(ours - theirs) <= 1e-6 * max(1, abs(theirs)), "token \(index): \(ours) vs \(theirs)")
      }
    }
    let probabilities = LogitsMath.softmax(processed)
    for (index, (ours, theirs)) in zip(probabilities, fixture.probabilities).enumerated() {
      #expect(abs(ours - theirs) <= 1e-6, "probability of token \(index): \(ours) vs \(theirs)")
    }
  }

  @Test(arguments: ProcessorFixture.all.filter { $0.settings.temperature == 0 })
  func greedyChoosesTransformersToken(_ fixture: ProcessorFixture) throws {
    let settings = SamplingSettings(repetitionPenalty: fixture.settings.repetitionPenalty)
    var sampler = try TokenSampler(settings: settings)
    #expect(sampler.next(logits: ProcessorFixture.values(fixture.logits), tokens: fixture.tokens) == fixture.greedy)
  }

  static func transformersName(_ processor: any LogitsProcessor) -> String {
    switch processor {
    case is RepetitionPenalty: "RepetitionPenaltyLogitsProcessor"
    case is Temperature: "TemperatureLogitsWarper"
    case is TopK: "TopKLogitsWarper"
    case is TopP: "TopPLogitsWarper"
    case is MinP: "MinPLogitsWarper"
    default: "\(type(of: processor))"
    }
  }
}
