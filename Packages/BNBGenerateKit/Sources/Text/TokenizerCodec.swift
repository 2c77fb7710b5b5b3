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

  func makeStreamingDecoder() -> AnyStreamingDecoder {
    AnyStreamingDecoder(DetokenizerStream(detokenizer: tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true)))
  }

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

/// The Tokenizers module's byte-exact streaming detokenizer drives the commands' streams: text appears once
/// its UTF-8 is complete, and the pieces concatenated equal decoding the whole sequence.
struct DetokenizerStream: StreamingTextDecoder {
  var detokenizer: StreamingDetokenizer

  mutating func append(_ token: Int) -> String { detokenizer.append(token) }

  mutating func finish() -> String { detokenizer.finish() }
}
