import TextGeneration

/// What the commands need from a tokenizer: text to ids, ids to text, and a streaming decoder.
protocol TextCodec: Sendable {
  /// The ids of `text` (with the special tokens the tokenizer adds to a plain prompt).
  func encode(_ text: String) throws -> [Int]
  /// The ids of a rendered chat prompt (the template wrote the special tokens itself).
  func encodeRendered(_ text: String) throws -> [Int]
  /// The text of `ids`, special tokens skipped.
  func decode(_ ids: [Int]) -> String
  /// A fresh streaming decoder for generated ids.
  func makeStreamingDecoder() -> AnyStreamingDecoder
  /// The rendered chat prompt for `messages` (with the generation prompt appended), or `nil` when the
  /// model has no chat template.
  func renderChat(_ messages: [ChatMessage]) throws -> String?
  /// End-of-sequence ids the tokenizer adds to the model's (`eos_token` of `tokenizer_config.json`).
  var endOfSequenceIDs: [Int] { get }
}

extension TextCodec {
  /// The prompt ids for `text`: encoded as is, or (`chat`) as one user message in the chat template.
  ///
  /// - Throws: ``GenerateFailure`` when `chat` is asked for and the model has no chat template.
  func promptIDs(for text: String, chat: Bool) throws -> [Int] {
    guard chat else { return try encode(text) }
    guard let rendered = try renderChat([ChatMessage(role: "user", content: text)]) else {
      throw GenerateFailure(status: .invalidInput, message: "--chat: the model has no chat template")
    }
    return try encodeRendered(rendered)
  }
}

/// One turn of a conversation.
struct ChatMessage: Sendable, Equatable {
  /// `system`, `user` or `assistant`.
  var role: String
  /// The text.
  var content: String
}

/// A type-erased streaming decoder (the stream is generic over its decoder).
struct AnyStreamingDecoder: StreamingTextDecoder {
  private let box: any DecoderBox

  init<Decoder: StreamingTextDecoder>(_ decoder: Decoder) {
    box = ConcreteDecoderBox(decoder)
  }

  mutating func append(_ token: Int) -> String { box.append(token) }
  mutating func finish() -> String { box.finish() }
}

private protocol DecoderBox: AnyObject {
  func append(_ token: Int) -> String
  func finish() -> String
}

private final class ConcreteDecoderBox<Decoder: StreamingTextDecoder>: DecoderBox {
  var decoder: Decoder
  init(_ decoder: Decoder) { self.decoder = decoder }
  func append(_ token: Int) -> String { decoder.append(token) }
  func finish() -> String { decoder.finish() }
}

/// The decoder used when the model folder has no tokenizer: every token shows as nothing, so only ids
/// come out (`--prompt-ids`, `--json`).
struct SilentDecoder: StreamingTextDecoder {
  mutating func append(_ token: Int) -> String { "" }
  mutating func finish() -> String { "" }
}
