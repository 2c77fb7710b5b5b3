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
    var check = FilterCheck(known: Interpreter.filterNames, map: map)
    try check.check(nodes)
  }

  /// Renders a conversation as transformers' `apply_chat_template(..., tokenize=False)` does.
  ///
  /// Beyond plain rendering this does what transformers does around the template: `tools` and `documents` are
  /// always defined (`None` when not given), and a message with `reasoning_content`, `thinking` or `reasoning`
  /// gets the first of them under both `thinking` and `reasoning_content`. Parsed JSON keeps each message's key
  /// order, which `tojson` shows.
  ///
  /// - Parameters:
  ///   - orderedMessages: The conversation: dictionaries with `role`, `content` and whatever else the template reads.
  ///   - addGenerationPrompt: Whether to end with the header of an assistant turn (`add_generation_prompt`).
  ///   - context: Further variables: `bos_token`, `eos_token`, `tools`, `documents` and extra keyword arguments.
  ///   - now: The clock `strftime_now` reads; `nil` means the current time.
  /// - Returns: The prompt text.
  /// - Throws: ``ChatTemplateError/raised(message:)`` when the template calls `raise_exception`,
  ///   ``ChatTemplateError/render(message:location:)`` for other failures.
  public func render(
    orderedMessages: [JinjaValue], addGenerationPrompt: Bool, context: [String: JinjaValue] = [:], now: Date? = nil
  ) throws(ChatTemplateError) -> String {
    var variables = context
    variables["messages"] = .array(orderedMessages.map(Self.aliasingReasoning))
    variables["add_generation_prompt"] = .bool(addGenerationPrompt)
    if variables["tools"] == nil { variables["tools"] = JinjaValue.none }
    if variables["documents"] == nil { variables["documents"] = JinjaValue.none }
    return try render(variables: variables, now: now)
  }

  /// transformers' `_alias_reasoning_fields`: `{"thinking": r, **message, "reasoning_content": r}`.
  static func aliasingReasoning(_ message: JinjaValue) -> JinjaValue {
    guard case .dictionary(let fields) = message else { return message }
    let names = ["reasoning_content", "thinking", "reasoning"]
    guard let reasoning = names.lazy.compactMap({ fields[$0] }).first(where: { !$0.isNone }) else { return message }
    var aliased = JinjaDictionary([("thinking", reasoning)])
    for pair in fields.pairs { aliased[pair.key] = pair.value }
    aliased["reasoning_content"] = reasoning
    return .dictionary(aliased)
  }

  /// Renders a conversation given as Swift dictionaries.
  ///
  /// Swift dictionaries have no key order, so each message's keys are sorted; use
  /// ``render(orderedMessages:addGenerationPrompt:context:now:)`` where a template prints messages with `tojson`.
  ///
  /// - Parameters:
  ///   - messages: The conversation: `role`, `content` and whatever else the template reads.
  ///   - addGenerationPrompt: Whether to end with the header of an assistant turn (`add_generation_prompt`).
  ///   - context: Further variables: `bos_token`, `eos_token`, `tools`, `documents` and extra keyword arguments.
  ///   - now: The clock `strftime_now` reads; `nil` means the current time.
  /// - Returns: The prompt text.
  /// - Throws: ``ChatTemplateError``.
  public func render(
    messages: [[String: JinjaValue]], addGenerationPrompt: Bool, context: [String: JinjaValue] = [:], now: Date? = nil
  ) throws(ChatTemplateError) -> String {
    let values = messages.map { message in
      JinjaValue.dictionary(JinjaDictionary(message.keys.sorted().map { ($0, message[$0] ?? .none) }))
    }
    return try render(orderedMessages: values, addGenerationPrompt: addGenerationPrompt, context: context, now: now)
  }

  /// Renders the template with exactly the given top-level variables.
  ///
  /// - Parameters:
  ///   - variables: Every variable the template may read (`messages`, `add_generation_prompt`, ...).
  ///   - now: The clock `strftime_now` reads; `nil` means the current time.
  /// - Returns: The rendered text.
  /// - Throws: ``ChatTemplateError``.
  public func render(variables: [String: JinjaValue], now: Date? = nil) throws(ChatTemplateError) -> String {
    try render(variables: variables, now: now, maximumSteps: RenderBudget.maximumSteps)
  }

  /// Renders with a step budget other than ``RenderBudget/maximumSteps`` (tests use a small one).
  func render(variables: [String: JinjaValue], now: Date?, maximumSteps: Int) throws(ChatTemplateError) -> String {
    let interpreter = Interpreter(map: map, now: now ?? Date(), budget: RenderBudget(maximumSteps: maximumSteps))
    return try interpreter.run(nodes, variables: variables)
  }
}
