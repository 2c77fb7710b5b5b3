import LanguageModels
import TestSupport
import Testing
import TextGeneration

@testable import BNBGenerateKit

/// A codec over bytes: every byte is a token (ids < 256 of the tiny model's 1024), the "template" writes
/// `<role>: content\n` lines and ends with `assistant:`.
struct ByteCodec: TextCodec {
  func encode(_ text: String) throws -> [Int] { [1] + text.utf8.map(Int.init) }
  func encodeRendered(_ text: String) throws -> [Int] { text.utf8.map(Int.init) }
  func decode(_ ids: [Int]) -> String { String(decoding: ids.filter { $0 < 256 }.map(UInt8.init), as: UTF8.self) }
  func makeStreamingDecoder() -> AnyStreamingDecoder { AnyStreamingDecoder(ByteDecoder()) }
  func renderChat(_ messages: [ChatMessage]) throws -> String? {
    messages.map { "\($0.role): \($0.content)\n" }.joined() + "assistant:"
  }
  var endOfSequenceIDs: [Int] { [] }
}

struct ByteDecoder: StreamingTextDecoder {
  mutating func append(_ token: Int) -> String { token < 128 ? String(UnicodeScalar(UInt8(token))) : "?" }
  mutating func finish() -> String { "" }
}

@Suite("Chat session")
struct ChatSessionTests {
  func session(_ model: LanguageModel) -> ChatSession {
    ChatSession(
      model: model, codec: ByteCodec(), settings: SamplingSettings(),
      stopping: StoppingCriteria(maxNewTokens: 6, endOfSequenceTokens: [2]))
  }

  @Test func secondTurnReusesTheCacheAndAnswersAsAFreshCache() async throws {
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama)
    let chat = session(model)
    let first = try await chat.answer("hi", isInterrupted: { false }, onText: { _ in })
    let second = try await chat.answer("more", isInterrupted: { false }, onText: { _ in })
    // The second prompt starts with the first prompt and its answer: only the rest was computed.
    #expect(second.figures.prefillTokens < second.promptIDs.count)
    #expect(second.promptIDs.starts(with: first.promptIDs))
    let fresh = try libraryGreedy(model, prompt: second.promptIDs, count: 6)
    #expect(second.generatedIDs == fresh)
    #expect(chat.messages.count == 4)
  }

  @Test func resetForgetsTurnsAndKeepsTheSystemMessage() async throws {
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama)
    let chat = session(model)
    chat.setSystem("be brief")
    _ = try await chat.answer("hi", isInterrupted: { false }, onText: { _ in })
    chat.reset()
    #expect(chat.messages == [ChatMessage(role: "system", content: "be brief")])
    #expect(chat.cache.count == 0)
    #expect(chat.statistics.contains("conversation: 0 messages"))
  }

  @Test func interruptionStopsTheAnswer() async throws {
    let model = try LanguageModel.load(directory: TestFiles.tinyLlama)
    let chat = session(model)
    let result = try await chat.answer("hi", isInterrupted: { true }, onText: { _ in })
    #expect(result.interrupted)
    #expect(result.generatedIDs.count == 1)
  }

  @Test(arguments: [
    ("", ChatInput.empty), ("/quit", .quit), ("/exit", .quit), ("/reset", .reset), ("/stats", .stats),
    ("/system  be nice ", .system("be nice")), ("/system", .system("")), ("/foo bar", .unknownCommand("/foo")),
    ("hello /reset", .message("hello /reset")),
  ])
  func inputParsing(_ line: String, _ expected: ChatInput) {
    #expect(ChatInput(line) == expected)
  }
}
