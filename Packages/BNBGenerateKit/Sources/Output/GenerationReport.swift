import Foundation
import TextGeneration

/// The `--json` output of `bnb-generate`.
struct GenerationReport: Encodable {
  var promptIDs: [Int]
  var generatedIDs: [Int]
  var text: String
  var stopReason: String?
  var figures: GenerationFigures

  enum CodingKeys: String, CodingKey {
    case promptIDs = "prompt_ids"
    case generatedIDs = "generated_ids"
    case text
    case stopReason = "stop_reason"
    case figures
  }

  init(_ result: GenerationResult) {
    promptIDs = result.promptIDs
    generatedIDs = result.generatedIDs
    text = result.text
    stopReason = result.interrupted ? "interrupted" : result.stopReason?.description
    figures = result.figures
  }

  /// Pretty-printed JSON with sorted keys and a final newline.
  var jsonText: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(self) else { return "{}\n" }
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
