/// The `chat_template` of a model folder, as written: the ChatTemplates module interprets it.
public enum ChatTemplateSource: Sendable, Equatable {
  /// One template (a string in `tokenizer_config.json`, or `chat_template.jinja`).
  case single(String)
  /// Named templates (a list of `{name, template}` in `tokenizer_config.json`, or `additional_chat_templates/*.jinja`),
  /// in file order.
  case named([NamedChatTemplate])

  /// The template with a name, or the default one (`default`, or the single template) when `name` is nil.
  ///
  /// - Parameter name: A template name such as `tool_use`, or nil for the default.
  /// - Returns: The template text, or nil when there is none with that name.
  public func template(named name: String? = nil) -> String? {
    switch self {
    case .single(let text): return name == nil || name == "default" ? text : nil
    case .named(let templates): return templates.first { $0.name == (name ?? "default") }?.template
    }
  }
}

/// One entry of a list of named chat templates.
public struct NamedChatTemplate: Sendable, Equatable {
  /// The name (`default`, `tool_use`, `rag`).
  public var name: String
  /// The Jinja source.
  public var template: String

  /// Creates a named template.
  ///
  /// - Parameters:
  ///   - name: The name.
  ///   - template: The Jinja source.
  public init(name: String, template: String) {
    self.name = name
    self.template = template
  }
}
