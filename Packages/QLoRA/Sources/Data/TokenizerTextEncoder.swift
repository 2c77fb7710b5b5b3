public import ChatTemplates
import Foundation
public import Tokenizers

/// The model's tokenizer and chat template as a ``TrainingTextEncoder`` (chat renders get `bos_token` and
/// `eos_token` as transformers passes them).
public struct TokenizerTextEncoder: TrainingTextEncoder {
  /// The tokenizer.
  public let tokenizer: Tokenizer
  /// The chat template (`nil`: `messages` records are an error).
  public let template: ChatTemplate?

  /// Creates an encoder.
  ///
  /// - Parameters:
  ///   - tokenizer: The tokenizer.
  ///   - template: The chat template; `nil` uses the tokenizer's own, if any.
  /// - Throws: `ChatTemplateError` when the tokenizer's template does not parse.
  public init(tokenizer: Tokenizer, template: ChatTemplate? = nil) throws {
    self.tokenizer = tokenizer
    if let template {
      self.template = template
    } else {
      self.template = try tokenizer.chatTemplate?.template().map { try ChatTemplate(source: $0) }
    }
  }

  /// Token ids of `text`.
  public func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int] {
    tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
  }

  /// The chat template's rendering.
  public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
    guard let template else {
      throw QLoRAError.invalidSetting(name: "chat template", reason: "the tokenizer has none for a messages record")
    }
    var context = [String: JinjaValue]()
    if let bos = tokenizer.bosToken { context["bos_token"] = .string(bos) }
    if let eos = tokenizer.eosToken { context["eos_token"] = .string(eos) }
    return try template.render(
      messages: messages.map { ["role": .string($0.role), "content": .string($0.content)] },
      addGenerationPrompt: addGenerationPrompt, context: context)
  }
}
