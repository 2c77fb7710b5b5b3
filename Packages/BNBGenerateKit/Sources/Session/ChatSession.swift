import LanguageModels
import TextGeneration

/// A conversation with a model: the messages so far, one KV cache reused for their common prefix, and the
/// commands `/reset`, `/system TEXT`, `/stats`.
final class ChatSession {
  let model: LanguageModel
  let codec: any TextCodec
  let cache: KVCache
  var settings: SamplingSettings
  var stopping: StoppingCriteria
  /// The system message, if any.
  private(set) var system: String?
  /// The user and assistant turns.
  private(set) var turns: [ChatMessage] = []
  /// The figures of the last answer.
  private(set) var lastFigures: GenerationFigures?
  private var answers = 0

  init(model: LanguageModel, codec: any TextCodec, settings: SamplingSettings, stopping: StoppingCriteria) {
    self.model = model
    self.codec = codec
    self.cache = model.makeCache()
    self.settings = settings
    self.stopping = stopping
  }

  /// Every message, the system one first.
  var messages: [ChatMessage] {
    (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + turns
  }

  /// Forgets the conversation (the system message stays).
  func reset() {
    turns = []
    cache.reset()
  }

  /// Sets the system message and starts over.
  func setSystem(_ text: String) {
    system = text.isEmpty ? nil : text
    reset()
  }

  /// Answers a user message, streaming the text to `onText`.
  ///
  /// - Parameters:
  ///   - text: The user's message.
  ///   - isInterrupted: Polled between tokens; `true` ends the answer (what was said is kept).
  ///   - onText: Receives the answer's text as it streams.
  /// - Returns: The result (figures, ids, stop reason).
  /// - Throws: ``GenerateFailure`` for template, tokenizer or model errors; the conversation is then
  ///   left as it was.
  func answer(
    _ text: String, isInterrupted: @escaping () -> Bool, onText: (String) -> Void
  ) async throws(GenerateFailure) -> GenerationResult {
    let candidate = messages + [ChatMessage(role: "user", content: text)]
    let prompt: [Int]
    do {
      guard let rendered = try codec.renderChat(candidate) else {
        throw GenerateFailure(status: .invalidInput, message: "the model has no chat template")
      }
      prompt = try codec.encodeRendered(rendered)
    } catch let failure as GenerateFailure {
      throw failure
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "chat template: \(error)")
    }
    var turnSettings = settings
    turnSettings.seed = settings.seed &+ UInt64(answers)
    let sampler: TokenSampler
    do { sampler = try TokenSampler(settings: turnSettings) } catch { throw .settings(error) }
    let runner = GenerationRunner(model: model, cache: cache, sampler: sampler, stopping: stopping)
    let result = try await runner.run(
      prompt: prompt, decoder: codec.makeStreamingDecoder(), isInterrupted: isInterrupted, onText: onText)
    answers += 1
    turns.append(ChatMessage(role: "user", content: text))
    turns.append(ChatMessage(role: "assistant", content: result.text))
    lastFigures = result.figures
    return result
  }

  /// The `/stats` text: the last answer's figures, the conversation's length and the memory footprint.
  var statistics: String {
    var text = lastFigures.map { "last answer: \($0.summary)\n" } ?? "no answer yet\n"
    text += "conversation: \(turns.count) messages, \(cache.count) cached positions\n"
    text += "memory: \(model.memoryFootprint(including: cache))\n"
    return text
  }
}
