/// Generation as an `AsyncSequence` of ``GenerationStep``s: asks a logits source for the next-token logits,
/// samples a token, turns it into text and stops on the ``StoppingCriteria``.
///
/// The source is called first with the whole prompt, then with the one token just generated; it keeps its own
/// state (a model's KV cache). The stream knows no model:
/// ```swift
/// let stream = TextGenerationStream(prompt: ids, sampler: sampler, stopping: stopping, decoder: detokenizer) {
///   try model.logits(for: $0, cache: cache)
/// }
/// for try await step in stream { print(step.text, terminator: "") }
/// ```
public struct TextGenerationStream<Decoder: StreamingTextDecoder>: AsyncSequence {
  /// One step per generated token.
  public typealias Element = GenerationStep

  /// Returns the next-token logits after appending `tokens` to the sequence.
  public typealias LogitsSource = (_ tokens: [Int]) async throws -> [Float]

  private let prompt: [Int]
  private let sampler: TokenSampler
  private let stopping: StoppingCriteria
  private let decoder: Decoder
  private let logits: LogitsSource

  /// Creates the stream; nothing runs until it is iterated.
  ///
  /// - Parameters:
  ///     - prompt: the prompt ids (non-empty, the source's first input).
  ///     - sampler: chooses each token.
  ///     - stopping: when to stop.
  ///     - decoder: turns the generated ids into text.
  ///     - logits: the logits source.
  public init(
    prompt: [Int], sampler: TokenSampler, stopping: StoppingCriteria, decoder: Decoder,
    logits: @escaping LogitsSource
  ) {
    self.prompt = prompt
    self.sampler = sampler
    self.stopping = stopping
    self.decoder = decoder
    self.logits = logits
  }

  /// Starts the generation (each iterator runs it anew from the prompt).
  public func makeAsyncIterator() -> Iterator {
    Iterator(
      sequence: prompt, pending: prompt, sampler: sampler, stopping: stopping, decoder: decoder,
      matcher: StopStringMatcher(stopStrings: stopping.stopStrings), logits: logits)
  }

  /// Produces one step per generated token.
  public struct Iterator: AsyncIteratorProtocol {
    var sequence: [Int]
    var pending: [Int]
    var sampler: TokenSampler
    let stopping: StoppingCriteria
    var decoder: Decoder
    var matcher: StopStringMatcher
    let logits: LogitsSource
    var generated = 0
    var finished = false

    /// The next step, or `nil` after the last one.
    ///
    /// - Throws: what the logits source throws; the stream ends after an error.
    public mutating func next() async throws -> GenerationStep? {
      guard !finished, generated < stopping.maxNewTokens, !pending.isEmpty else {
        finished = true
        return nil
      }
      let scores: [Float]
      do {
        scores = try await logits(pending)
      } catch {
        finished = true
        throw error
      }
      let token = sampler.next(logits: scores, tokens: sequence)
      sequence.append(token)
      pending = [token]
      generated += 1
      if stopping.endOfSequenceTokens.contains(token) {
        return finish(GenerationStep(token: token, text: ""), reason: .endOfSequence(token))
      }
      let (text, match) = matcher.append(decoder.append(token))
      if let match {
        finished = true
        return GenerationStep(token: token, text: text, stopReason: .stopString(match))
      }
      if generated >= stopping.maxNewTokens {
        return finish(GenerationStep(token: token, text: text), reason: .maxTokens)
      }
      return GenerationStep(token: token, text: text)
    }

    /// Marks the last step: releases the decoder's and the matcher's held-back text (checking it once more
    /// for a stop string).
    private mutating func finish(_ step: GenerationStep, reason: StopReason) -> GenerationStep {
      finished = true
      var last = step
      let (tail, match) = matcher.append(decoder.finish())
      last.text += tail
      if let match {
        last.stopReason = .stopString(match)
      } else {
        last.text += matcher.flush()
        last.stopReason = reason
      }
      return last
    }
  }
}
