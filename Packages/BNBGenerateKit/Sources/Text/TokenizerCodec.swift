import ChatTemplates
import Foundation
import TextGeneration
import Tokenizers

/// A model folder's `tokenizer.json` and chat template as a ``TextCodec``.
struct TokenizerCodec: TextCodec {
  let tokenizer: Tokenizer
  let template: ChatTemplate?

  func encode(_ text: String) throws -> [Int] { tokenizer.encode(text) }

  func encodeRendered(_ text: String) throws -> [Int] { tokenizer.encode(text, addSpecialTokens: false) }

  func decode(_ ids: [Int]) -> String { tokenizer.decode(ids, skipSpecialTokens: true) }

  func makeStreamingDecoder() -> AnyStreamingDecoder { AnyStreamingDecoder(IncrementalDecoder(tokenizer: tokenizer)) }

  func renderChat(_ messages: [ChatMessage]) throws -> String? {
    guard let template else { return nil }
    let values = messages.map { message in
      JinjaValue.dictionary(JinjaDictionary([("role", .string(message.role)), ("content", .string(message.content))]))
    }
    var context: [String: JinjaValue] = [:]
    if let bos = tokenizer.bosToken { context["bos_token"] = .string(bos) }
    if let eos = tokenizer.eosToken { context["eos_token"] = .string(eos) }
    return try template.render(orderedMessages: values, addGenerationPrompt: true, context: context)
  }

  var endOfSequenceIDs: [Int] { tokenizer.eosTokenIDs }
}

/// Streams text by decoding all generated ids and showing what was added since the last token; text that
/// ends in an incomplete character (U+FFFD) is held back until the next token completes it.
struct IncrementalDecoder: StreamingTextDecoder {
  let tokenizer: Tokenizer
  private var ids: [Int] = []
  private var shown = 0

  init(tokenizer: Tokenizer) {
    self.tokenizer = tokenizer
  }

  mutating func append(_ token: Int) -> String {
    ids.append(token)
    let text = tokenizer.decode(ids, skipSpecialTokens: true)
    guard !text.hasSuffix("\u{FFFD}"), text.count >= shown else { return "" }
    defer { shown = text.count }
    return String(text.dropFirst(shown))
  }

  mutating func finish() -> String {
    let text = tokenizer.decode(ids, skipSpecialTokens: true)
    defer { shown = text.count }
    return text.count > shown ? String(text.dropFirst(shown)) : ""
  }
}
