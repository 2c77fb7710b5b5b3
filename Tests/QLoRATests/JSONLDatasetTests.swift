import Foundation
import QLoRA
import TestSupport
import Testing

/// A character-level encoder (BOS 1, each scalar → 2 + value % 90) and a ChatML-like template.
struct CharacterEncoder: TrainingTextEncoder {
  func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int] {
    (addSpecialTokens ? [1] : []) + text.unicodeScalars.map { 2 + Int($0.value % 90) }
  }

  func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
    messages.map { "<\($0.role)>\($0.content)|" }.joined() + (addGenerationPrompt ? "<assistant>" : "")
  }
}

@Suite("JSONL training data")
struct JSONLDatasetTests {
  static func file(_ lines: [String]) throws -> URL {
    let folder = try TestFiles.scratchFolder()
    let url = folder.appending(path: "train.jsonl")
    try Data(lines.joined(separator: "\n").utf8).write(to: url)
    return url
  }

  @Test func readsTheThreeForms() throws {
    let url = try Self.file([
      #"{"text": "hello"}"#, "",
      #"{"prompt": "Q: 2+2?", "completion": " 4"}"#,
      #"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#,
    ])
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    let (records, skipped) = try JSONLDataset.read(url)
    #expect(skipped.isEmpty)
    #expect(
      records == [
        .text("hello"), .promptCompletion(prompt: "Q: 2+2?", completion: " 4"),
        .messages([ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "yo")]),
      ])
  }

  @Test func badLinesNameFileAndLine() throws {
    let url = try Self.file([#"{"text": "ok"}"#, #"{"text": 3}"#, "not json", #"{"other": 1}"#])
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    #expect(throws: JSONLDataset.LineError(file: url.path, line: 2, reason: "\"text\" must be a string")) {
      try JSONLDataset.read(url)
    }
    let (records, skipped) = try JSONLDataset.read(url, skipBadLines: true)
    #expect(records.count == 1)
    #expect(skipped.map(\.line) == [2, 3, 4])
    #expect(skipped[0].description.hasPrefix(url.path + ":2:"))
  }

  @Test func emptyDataIsAnError() throws {
    let url = try Self.file(["", "  "])
    defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
    #expect(throws: JSONLDataset.LineError.self) { try JSONLDataset.read(url) }
  }

  @Test func completionOnlyMasking() throws {
    let example = try JSONLDataset.example(
      from: .promptCompletion(prompt: "ab", completion: "cd"), encoder: CharacterEncoder(), maxLength: 100)
    #expect(example.tokens == [1] + "abcd".unicodeScalars.map { 2 + Int($0.value % 90) })
    #expect(example.labels[0..<3].allSatisfy { $0 == -100 })
    #expect(Array(example.labels[3...]) == Array(example.tokens[3...]))
  }

  @Test func assistantOnlyMaskingAndTruncation() throws {
    let messages = [
      ChatMessage(role: "user", content: "u1"), ChatMessage(role: "assistant", content: "a1"),
      ChatMessage(role: "user", content: "u2"), ChatMessage(role: "assistant", content: "a2"),
    ]
    let encoder = CharacterEncoder()
    let example = try JSONLDataset.example(from: .messages(messages), encoder: encoder, maxLength: 100)
    let text = try encoder.render(messages, addGenerationPrompt: false)
    let trained = String(
      String.UnicodeScalarView(
        zip(text.unicodeScalars, example.labels).filter { $0.1 != -100 }.map(\.0)))
    #expect(trained == "a1|a2|")
    let short = try JSONLDataset.example(from: .messages(messages), encoder: encoder, maxLength: 5)
    #expect(short.tokens.count == 5)
    #expect(short.labels.count == 5)
  }
}
