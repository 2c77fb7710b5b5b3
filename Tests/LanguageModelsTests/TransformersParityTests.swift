import Foundation
import LanguageModels
import Testing

/// Every architecture against transformers (eager attention, float32) on random tiny models.
@Suite("Parity with transformers")
struct TransformersParityTests {
  @Test(arguments: LanguageModelFixture.names)
  func promptLogits(name: String) throws {
    let fixture = try LanguageModelFixture(name)
    let model = try fixture.load()
    let logits = try model.logitsForAllPositions(for: fixture.prompt, cache: model.makeCache())
    let error = relativeError(logits, fixture.logits)
    print("\(name): prompt logits relative error \(error)")
    #expect(error <= 1e-4, "\(name): \(error)")
  }

  @Test(arguments: LanguageModelFixture.names)
  func greedyGenerationMatches(name: String) throws {
    let fixture = try LanguageModelFixture(name)
    let model = try fixture.load()
    #expect(fixture.greedy.count == 32)
    #expect(try greedyIDs(model, prompt: fixture.prompt, count: fixture.greedy.count) == fixture.greedy)
  }
}
