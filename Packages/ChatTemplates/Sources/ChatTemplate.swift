public import Foundation

/// A parsed chat template: renders a conversation into the prompt string, as transformers'
/// `apply_chat_template(..., tokenize=False)` does.
///
/// ```swift
/// let template = try ChatTemplate(source: configTemplateText)
/// let prompt = try template.render(messages: [["role": "user", "content": "Hi"]], addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
  /// The template text as given.
  public let source: String
  let nodes: [Node]
  let map: SourceMap

  /// Parses `source`.
  ///
  /// - Throws: ``ChatTemplateError/syntax(message:location:)`` naming the line:column and what was found.
  public init(source: String) throws(ChatTemplateError) {
    self.source = source
    let bytes = Lexer.normalize(source)
    map = SourceMap(bytes)
    let tokens = try Lexer.tokenize(bytes, map: map)
    var parser = Parser(tokens: tokens, map: map)
    nodes = try parser.parseTemplate()
  }

  /// Renders a conversation.
  ///
  /// - Parameters:
  ///   - messages: The conversation: dictionaries with `role`, `content` and whatever else the template reads.
  ///   - addGenerationPrompt: Whether to end with the header of an assistant turn (`add_generation_prompt`).
  ///   - context: Further variables: `bos_token`, `eos_token`, `tools`, `documents` and extra keyword arguments.
  ///   - now: The clock `strftime_now` reads; `nil` means the current time.
  /// - Returns: The prompt text.
  /// - Throws: ``ChatTemplateError/raised(message:)`` when the template calls `raise_exception`,
  ///   ``ChatTemplateError/render(message:location:)`` for other failures.
  public func render(
    messages: [JinjaValue], addGenerationPrompt: Bool, context: [String: JinjaValue] = [:], now: Date? = nil
  ) throws(ChatTemplateError) -> String {
    var variables = context
    variables["messages"] = .array(messages)
    variables["add_generation_prompt"] = .bool(addGenerationPrompt)
    return try render(variables: variables, now: now)
  }

  /// Renders a conversation given as Swift dictionaries (their key order is not kept: use
  /// ``render(messages:addGenerationPrompt:context:now:)`` with `.dictionary` values where `tojson` order matters).
  public func render(
    messages: [[String: JinjaValue]], addGenerationPrompt: Bool, context: [String: JinjaValue] = [:], now: Date? = nil
  ) throws(ChatTemplateError) -> String {
    let values = messages.map { message in
      JinjaValue.dictionary(JinjaDictionary(message.keys.sorted().map { ($0, message[$0] ?? .none) }))
    }
    return try render(messages: values, addGenerationPrompt: addGenerationPrompt, context: context, now: now)
  }

  /// Renders the template with exactly the given top-level variables.
  ///
  /// - Parameters:
  ///   - variables: Every variable the template may read (`messages`, `add_generation_prompt`, ...).
  ///   - now: The clock `strftime_now` reads; `nil` means the current time.
  /// - Returns: The rendered text.
  /// - Throws: ``ChatTemplateError``.
  public func render(variables: [String: JinjaValue], now: Date? = nil) throws(ChatTemplateError) -> String {
    let interpreter = Interpreter(map: map, now: now ?? Date())
    return try interpreter.run(nodes, variables: variables)
  }
}
