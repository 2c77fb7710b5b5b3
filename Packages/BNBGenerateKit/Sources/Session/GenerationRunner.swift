import Foundation
import LanguageModels
import TextGeneration

/// Runs one generation on a model and a cache: prefill of what the cache does not hold yet, then decode
/// until a stopping criterion, Ctrl-C or `maxNewTokens`; measures the figures.
struct GenerationRunner {
  var model: LanguageModel
  var cache: KVCache
  var sampler: TokenSampler
  var stopping: StoppingCriteria
  /// Return the logits of every prompt position (a fresh cache is then required).
  var keepPromptLogits = false

  /// Generates after `prompt`, reusing the cache's common prefix with it.
  ///
  /// - Parameters:
  ///   - prompt: The whole prompt (a chat's whole conversation).
  ///   - decoder: Turns generated ids into text.
  ///   - isInterrupted: Polled before each token; `true` ends the generation.
  ///   - onText: Called with each piece of text as it becomes visible.
  /// - Returns: The result.
  /// - Throws: ``GenerateFailure`` for model errors.
  func run(
    prompt: [Int], decoder: AnyStreamingDecoder, isInterrupted: @escaping () -> Bool = { false },
    onText: (String) -> Void = { _ in }
  ) async throws(GenerateFailure) -> GenerationResult {
    guard !prompt.isEmpty else { throw GenerateFailure(status: .invalidInput, message: "the prompt has no tokens") }
    let clock = ContinuousClock()
    let start = clock.now
    let pending: [Int]
    if keepPromptLogits {
      cache.reset()
      pending = prompt
    } else {
      pending = Array(cache.keepCommonPrefix(with: prompt))
    }
    let model = model
    let cache = cache
    let keepAll = keepPromptLogits
    let prefillTokens = pending.count
    var promptLogits: [Float]?
    var prefillSeconds = 0.0

    func runPrefill() throws(LanguageModelError) -> [Float] {
      let prefillStart = clock.now
      defer { prefillSeconds = (clock.now - prefillStart).seconds }
      guard keepAll else { return try model.logits(for: pending, cache: cache) }
      let all = try model.logitsForAllPositions(for: pending, cache: cache)
      promptLogits = all
      let vocabulary = all.count / pending.count
      return Array(all[(all.count - vocabulary)...])
    }

    guard stopping.maxNewTokens > 0 else {
      do { _ = try runPrefill() } catch { throw .model(error) }
      return GenerationResult(
        promptIDs: prompt, generatedIDs: [], text: "", stopReason: nil, interrupted: false,
        figures: GenerationFigures(
          prefillTokens: prefillTokens, prefillSeconds: prefillSeconds, generatedTokens: 0, decodeSeconds: 0,
          timeToFirstToken: 0, peakResidentBytes: ProcessMemory.peakResidentBytes),
        promptLogits: promptLogits)
    }

    var first = true
    let stream = TextGenerationStream(prompt: prompt, sampler: sampler, stopping: stopping, decoder: decoder) {
      tokens in
      if first {
        first = false
        return try runPrefill()
      }
      return try model.logits(for: tokens, cache: cache)
    }
    var generated: [Int] = []
    var text = ""
    var reason: StopReason?
    var interrupted = false
    var firstTokenTime: ContinuousClock.Instant?
    var lastTokenTime = start
    do {
      for try await step in stream {
        let now = clock.now
        if firstTokenTime == nil { firstTokenTime = now }
        lastTokenTime = now
        generated.append(step.token)
        text += step.text
        if !step.text.isEmpty { onText(step.text) }
        reason = step.stopReason
        if reason == nil, isInterrupted() {
          interrupted = true
          break
        }
      }
    } catch let error as LanguageModelError {
      throw .model(error)
    } catch {
      throw GenerateFailure(status: .failure, message: "\(error)")
    }
    let firstTime = firstTokenTime ?? start
    return GenerationResult(
      promptIDs: prompt, generatedIDs: generated, text: text, stopReason: reason, interrupted: interrupted,
      figures: GenerationFigures(
        prefillTokens: prefillTokens, prefillSeconds: prefillSeconds, generatedTokens: generated.count,
        decodeSeconds: (lastTokenTime - firstTime).seconds, timeToFirstToken: (firstTime - start).seconds,
        peakResidentBytes: ProcessMemory.peakResidentBytes),
      promptLogits: promptLogits)
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double {
    let (whole, fraction) = components
    return Double(whole) + Double(fraction) * 1e-18
  }
}
