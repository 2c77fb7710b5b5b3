public import Foundation
import QuantCore

/// One record of a JSONL training file, in the three forms `mlx_lm.lora` and TRL accept.
public enum TrainingRecord: Sendable, Equatable {
  /// `{"text": …}`: loss on every token.
  case text(String)
  /// `{"prompt": …, "completion": …}`: loss on the completion only.
  case promptCompletion(prompt: String, completion: String)
  /// `{"messages": [{"role": …, "content": …}, …]}`: loss on assistant turns only.
  case messages([ChatMessage])
}

/// A chat message of a `messages` record.
public struct ChatMessage: Sendable, Equatable {
  /// `system`, `user`, `assistant`, …
  public var role: String
  /// The text.
  public var content: String

  /// Creates a message.
  ///
  /// - Parameters:
  ///   - role: The role.
  ///   - content: The text.
  public init(role: String, content: String) {
    self.role = role
    self.content = content
  }
}

/// What turns records into token ids: the model's tokenizer and chat template.
public protocol TrainingTextEncoder {
  /// Token ids of plain text (with the tokenizer's special tokens, e.g. BOS, when `addSpecialTokens`).
  func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int]
  /// The chat template's rendering of `messages` (with the assistant header appended when
  /// `addGenerationPrompt`).
  func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String
}

/// Reading JSONL training data, with bad lines reported as `file:line`.
public enum JSONLDataset {
  /// A line that could not be used.
  public struct LineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// The 1-based line.
    public var line: Int
    /// What is wrong.
    public var reason: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - file: The file.
    ///   - line: The 1-based line (0 for the whole file).
    ///   - reason: What is wrong.
    public init(file: String, line: Int, reason: String) {
      self.file = file
      self.line = line
      self.reason = reason
    }

    /// `file:line: reason`.
    public var description: String { "\(file):\(line): \(reason)" }
  }

  /// Parses a JSONL file.
  ///
  /// - Parameters:
  ///   - url: The file.
  ///   - skipBadLines: Skip (and return) bad lines instead of failing on the first.
  /// - Returns: The records and the skipped lines' errors.
  /// - Throws: `LineError` for the first bad line (unless skipping), or an empty data set.
  public static func read(_ url: URL, skipBadLines: Bool = false) throws(LineError) -> (
    records: [TrainingRecord], skipped: [LineError]
  ) {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw LineError(file: url.path, line: 0, reason: "cannot read: \(error.localizedDescription)")
    }
    return try records(from: data, file: url.path, skipBadLines: skipBadLines)
  }

  /// Parses the contents of a JSONL file (what ``read(_:skipBadLines:)`` does after reading it).
  ///
  /// - Parameters:
  ///   - data: The file's bytes.
  ///   - file: The name used in errors.
  ///   - skipBadLines: Skip (and return) bad lines instead of failing on the first.
  /// - Returns: The records and the skipped lines' errors.
  /// - Throws: `LineError` for the first bad line (unless skipping), or an empty data set.
  package static func records(from data: Data, file: String, skipBadLines: Bool) throws(LineError) -> (
    records: [TrainingRecord], skipped: [LineError]
  ) {
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    var records = [TrainingRecord]()
    var skipped = [LineError]()
    for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      do {
        records.append(try parse(String(line)))
      } catch {
        let failure = LineError(file: file, line: index + 1, reason: error.reason)
        guard skipBadLines else { throw failure }
        skipped.append(failure)
      }
    }
    guard !records.isEmpty else { throw LineError(file: file, line: 0, reason: "no training records") }
    return (records, skipped)
  }

  struct ParseFailure: Error { var reason: String }

  static func parse(_ line: String) throws(ParseFailure) -> TrainingRecord {
    let value: JSONValue
    do { value = try JSONParser.parse(line) } catch { throw ParseFailure(reason: "invalid JSON: \(error)") }
    guard let members = value.members else { throw ParseFailure(reason: "a line must be a JSON object") }
    func field(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
    if let messages = field("messages") {
      guard let list = messages.elements, !list.isEmpty else {
        throw ParseFailure(reason: "\"messages\" must be a non-empty array")
      }
      var result = [ChatMessage]()
      for (index, message) in list.enumerated() {
        guard let fields = message.members,
          let role = fields.first(where: { $0.key == "role" })?.value.stringValue,
          let content = fields.first(where: { $0.key == "content" })?.value.stringValue
        else { throw ParseFailure(reason: "messages[\(index)] needs string \"role\" and \"content\"") }
        result.append(ChatMessage(role: role, content: content))
      }
      guard result.contains(where: { $0.role == "assistant" }) else {
        throw ParseFailure(reason: "\"messages\" has no assistant turn to train on")
      }
      return .messages(result)
    }
    if let prompt = field("prompt") {
      guard let promptText = prompt.stringValue, let completion = field("completion")?.stringValue else {
        throw ParseFailure(reason: "\"prompt\" and \"completion\" must both be strings")
      }
      return .promptCompletion(prompt: promptText, completion: completion)
    }
    if let text = field("text") {
      guard let string = text.stringValue else { throw ParseFailure(reason: "\"text\" must be a string") }
      return .text(string)
    }
    throw ParseFailure(reason: "expected a \"text\", \"prompt\"/\"completion\" or \"messages\" record")
  }

  /// Tokenizes a record, masking what is not trained (`-100`): the prompt of a prompt/completion record,
  /// every non-assistant span of a chat.
  ///
  /// - Parameters:
  ///   - record: The record.
  ///   - encoder: The tokenizer and chat template.
  ///   - maxLength: Truncation length (`max_seq_length`).
  /// - Returns: The example.
  /// - Throws: The encoder's errors.
  public static func example(
    from record: TrainingRecord, encoder: some TrainingTextEncoder, maxLength: Int
  ) throws -> TrainingExample {
    var tokens: [Int]
    var labels: [Int]
    switch record {
    case .text(let text):
      tokens = try encoder.encode(text, addSpecialTokens: true)
      labels = tokens
    case .promptCompletion(let prompt, let completion):
      let promptTokens = try encoder.encode(prompt, addSpecialTokens: true)
      tokens = try encoder.encode(prompt + completion, addSpecialTokens: true)
      let masked = commonPrefixLength(promptTokens, tokens)
      labels = tokens.enumerated().map { $0.offset < masked ? ChunkedCrossEntropy.ignoreIndex : $0.element }
    case .messages(let messages):
      // Chat templates add their own special tokens (transformers tokenizes with add_special_tokens=false).
      tokens = try encoder.encode(try encoder.render(messages, addGenerationPrompt: false), addSpecialTokens: false)
      labels = Array(repeating: ChunkedCrossEntropy.ignoreIndex, count: tokens.count)
      for (index, message) in messages.enumerated() where message.role == "assistant" {
        let before = try encoder.encode(
          try encoder.render(Array(messages[..<index]), addGenerationPrompt: true), addSpecialTokens: false)
        let through = try encoder.encode(
          try encoder.render(Array(messages[...index]), addGenerationPrompt: false), addSpecialTokens: false)
        let start = commonPrefixLength(before, tokens)
        let end = min(commonPrefixLength(through, tokens), tokens.count)
        if start < end { for t in start..<end { labels[t] = tokens[t] } }
      }
    }
    if tokens.count > maxLength {
      tokens.removeLast(tokens.count - maxLength)
      labels.removeLast(labels.count - maxLength)
    }
    return TrainingExample(tokens: tokens, labels: labels)
  }

  static func commonPrefixLength(_ a: [Int], _ b: [Int]) -> Int {
    var n = 0
    while n < a.count, n < b.count, a[n] == b[n] { n += 1 }
    return n
  }
}
