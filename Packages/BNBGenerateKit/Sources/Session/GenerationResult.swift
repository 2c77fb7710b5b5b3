import TextGeneration

/// What one generation produced.
struct GenerationResult: Sendable {
  /// The prompt ids.
  var promptIDs: [Int]
  /// The generated ids (an end-of-sequence id included when it stopped the generation).
  var generatedIDs: [Int]
  /// The generated text (stop strings and end-of-sequence tokens not included).
  var text: String
  /// Why it ended (`nil` when nothing was generated or it was interrupted).
  var stopReason: StopReason?
  /// Whether Ctrl-C ended it.
  var interrupted: Bool
  /// Speed and memory.
  var figures: GenerationFigures
  /// `[promptIDs.count × vocabulary]` logits of every prompt position, when they were asked for.
  var promptLogits: [Float]?
}
