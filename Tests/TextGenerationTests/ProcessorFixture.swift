import Foundation
import TestSupport
import Testing

/// One case of `Tests/Fixtures/generation/processors.json` (Tools/fixtures/make_generation_fixtures.py):
/// transformers' processors, in `generate`'s order, applied to random logits.
struct ProcessorFixture: Decodable, CustomTestStringConvertible {
  struct Settings: Decodable {
    var temperature: Float
    var topK: Int
    var topP: Float
    var minP: Float?
    var repetitionPenalty: Float
  }

  var name: String
  var settings: Settings
  var processors: [String]
  var tokens: [Int]
  var logits: [Float?]
  var processed: [Float?]
  var probabilities: [Float]
  var greedy: Int

  var testDescription: String { name }

  /// `nil` (JSON null) stands for `-inf`.
  static func values(_ values: [Float?]) -> [Float] { values.map { $0 ?? -.infinity } }

  static let all: [ProcessorFixture] = {
    struct Document: Decodable { var cases: [ProcessorFixture] }
    do {
      let data = try Data(contentsOf: TestFiles.fixture("generation/processors.json"))
      return try JSONDecoder().decode(Document.self, from: data).cases
    } catch {
      return []
    }
  }()
}
