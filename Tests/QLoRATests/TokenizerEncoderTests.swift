import ChatTemplates
import Foundation
import QLoRA
import TestSupport
import Testing
import Tokenizers

/// The Llama-3-style fixture tokenizer with a ChatML template: completion-only and assistant-only masks.
@Suite("Masking with a real tokenizer and chat template")
struct TokenizerEncoderTests {
  static let chatML = """
    {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}\
    {% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
    """

  static func encoder() throws -> TokenizerTextEncoder {
    let tokenizer = try Tokenizer.load(directory: TestFiles.fixture("tokenizers/llama3"))
    return try TokenizerTextEncoder(tokenizer: tokenizer, template: try ChatTemplate(source: chatML))
  }

  @Test func completionOnly() throws {
    let encoder = try Self.encoder()
    let example = try JSONLDataset.example(
      from: .promptCompletion(prompt: "Question: what is 2+2?", completion: " The answer is 4."), encoder: encoder,
      maxLength: 512)
    let prompt = try encoder.encode("Question: what is 2+2?", addSpecialTokens: true)
    #expect(example.labels.prefix(prompt.count).allSatisfy { $0 == -100 })
    #expect(example.labels.count > prompt.count)
    #expect(Array(example.labels[prompt.count...]) == Array(example.tokens[prompt.count...]))
  }

  @Test func assistantOnly() throws {
    let encoder = try Self.encoder()
    let messages = [
      ChatMessage(role: "user", content: "Hello there"), ChatMessage(role: "assistant", content: "Hi, friend."),
      ChatMessage(role: "user", content: "Bye"), ChatMessage(role: "assistant", content: "Goodbye!"),
    ]
    let example = try JSONLDataset.example(from: .messages(messages), encoder: encoder, maxLength: 512)
    let trained = example.tokens.indices.filter { example.labels[$0] != -100 }.map { example.tokens[$0] }
    let decoded = encoder.tokenizer.decode(trained)
    #expect(decoded.contains("Hi, friend."))
    #expect(decoded.contains("Goodbye!"))
    #expect(!decoded.contains("Hello there"))
    #expect(!decoded.contains("Bye<"))
    #expect(!decoded.contains("user"))
  }
}
