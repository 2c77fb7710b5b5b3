import Testing

@testable import TextGeneration

/// A decoder over a fixed table of token texts.
struct TableDecoder: StreamingTextDecoder {
  var table: [String]
  var finishText = ""
  mutating func append(_ token: Int) -> String { table[token] }
  mutating func finish() -> String { finishText }
}

/// A logits source that always prefers `(last token + 1) % vocabulary`, recording what it was given.
final class CountingModel {
  let vocabulary: Int
  var calls: [[Int]] = []
  init(vocabulary: Int) { self.vocabulary = vocabulary }
  func logits(_ tokens: [Int]) -> [Float] {
    calls.append(tokens)
    var result = [Float](repeating: 0, count: vocabulary)
    result[((tokens.last ?? 0) + 1) % vocabulary] = 5
    return result
  }
}

@Suite("TextGenerationStream")
struct StreamTests {
  static let table = ["a", "b", "c", "d", "<eos>", "e"]

  func run(
    prompt: [Int], stopping: StoppingCriteria, settings: SamplingSettings = SamplingSettings(),
    decoder: TableDecoder = TableDecoder(table: table)
  ) async throws -> (steps: [GenerationStep], calls: [[Int]]) {
    let model = CountingModel(vocabulary: Self.table.count)
    let stream = TextGenerationStream(
      prompt: prompt, sampler: try TokenSampler(settings: settings), stopping: stopping, decoder: decoder
    ) { model.logits($0) }
    var steps: [GenerationStep] = []
    for try await step in stream { steps.append(step) }
    return (steps, model.calls)
  }

  @Test func stopsAtMaxTokensAndFeedsOneTokenAfterThePrompt() async throws {
    let (steps, calls) = try await run(prompt: [0], stopping: StoppingCriteria(maxNewTokens: 3))
    #expect(steps.map(\.token) == [1, 2, 3])
    #expect(steps.map(\.text).joined() == "bcd")
    #expect(steps.map(\.stopReason) == [nil, nil, .maxTokens])
    #expect(calls == [[0], [1], [2]])
  }

  @Test func stopsOnAnyEndOfSequenceIdWithoutItsText() async throws {
    let (steps, _) = try await run(
      prompt: [1, 2], stopping: StoppingCriteria(maxNewTokens: 10, endOfSequenceTokens: [4, 99]))
    #expect(steps.map(\.token) == [3, 4])
    #expect(steps.map(\.text) == ["d", ""])
    #expect(steps.last?.stopReason == .endOfSequence(4))
  }

  @Test func stopStringEndsTheTextBeforeIt() async throws {
    // Generated texts: b c d <eos>; "cd" spans two tokens and must never be shown.
    let (steps, _) = try await run(prompt: [0], stopping: StoppingCriteria(maxNewTokens: 10, stopStrings: ["cd"]))
    #expect(steps.map(\.token) == [1, 2, 3])
    #expect(steps.map(\.text) == ["b", "", ""])
    #expect(steps.last?.stopReason == .stopString("cd"))
  }

  @Test func heldBackTextIsReleasedAtTheEnd() async throws {
    var decoder = TableDecoder(table: Self.table)
    decoder.finishText = "!"
    let (steps, _) = try await run(
      prompt: [0], stopping: StoppingCriteria(maxNewTokens: 2, stopStrings: ["cx"]), decoder: decoder)
    #expect(steps.map(\.text) == ["b", "c!"])
    #expect(steps.last?.stopReason == .maxTokens)
  }

  @Test func zeroNewTokensRunsNothing() async throws {
    let (steps, calls) = try await run(prompt: [0], stopping: StoppingCriteria(maxNewTokens: 0))
    #expect(steps.isEmpty)
    #expect(calls.isEmpty)
  }

  @Test func repetitionPenaltySeesThePromptAndTheGeneratedTokens() async throws {
    // Token 1 has logit 5, token 2 logit 1: a penalty of 10 makes a seen token 1 (0.5) lose to token 2.
    func generate(prompt: [Int], penalty: Float) async throws -> [Int] {
      let stream = TextGenerationStream(
        prompt: prompt, sampler: try TokenSampler(settings: SamplingSettings(repetitionPenalty: penalty)),
        stopping: StoppingCriteria(maxNewTokens: 3), decoder: TableDecoder(table: Self.table)
      ) { _ in [0, 5, 1, 0, 0, 0] }
      var tokens: [Int] = []
      for try await step in stream { tokens.append(step.token) }
      return tokens
    }
    #expect(try await generate(prompt: [0], penalty: 1) == [1, 1, 1])
    #expect(try await generate(prompt: [0], penalty: 10) == [1, 2, 1])
    #expect(try await generate(prompt: [1], penalty: 10) == [2, 1, 1])
  }

  @Test func sourceErrorsEndTheStream() async throws {
    struct Failure: Error {}
    let stream = TextGenerationStream(
      prompt: [0], sampler: try TokenSampler(settings: SamplingSettings()),
      stopping: StoppingCriteria(maxNewTokens: 5), decoder: TableDecoder(table: Self.table)
    ) { _ in throw Failure() }
    var iterator = stream.makeAsyncIterator()
    await #expect(throws: Failure.self) { try await iterator.next() }
    #expect(try await iterator.next() == nil)
  }
}

@Suite("StopStringMatcher")
struct StopStringMatcherTests {
  @Test func holdsBackPossiblePrefixes() {
    var matcher = StopStringMatcher(stopStrings: ["</s>", "User:"])
    #expect(matcher.append("Hello <").text == "Hello ")
    #expect(matcher.append("b>").text == "<b>")
    #expect(matcher.append(" Us").text == " ")
    let last = matcher.append("er: hi")
    #expect(last.text == "")
    #expect(last.match == "User:")
  }

  @Test func earliestStopStringWins() {
    var matcher = StopStringMatcher(stopStrings: ["yz", "xy"])
    let result = matcher.append("abxyz")
    #expect(result.text == "ab")
    #expect(result.match == "xy")
  }

  @Test func noStopStringsPassesEverything() {
    var matcher = StopStringMatcher(stopStrings: [])
    #expect(matcher.append("abc").text == "abc")
    #expect(matcher.flush() == "")
  }
}
