public import Foundation

/// A model's chat templates by name, found the way transformers finds them, and the choice among them.
///
/// A model folder may hold `chat_template.jinja` (the `default`) and `additional_chat_templates/<name>.jinja`;
/// these take priority over `tokenizer_config.json`'s `chat_template`, which is either one template or a list of
/// `{"name": ..., "template": ...}` objects.
public struct ChatTemplateSet: Sendable, Equatable {
  /// Template texts by name; a single template is named `default`.
  public var templates: [String: String]

  /// A set of named templates.
  public init(templates: [String: String]) {
    self.templates = templates
  }

  /// The templates of a `chat_template` value from `tokenizer_config.json`.
  ///
  /// - Parameter value: A string, or a list of objects with `name` and `template`.
  /// - Throws: ``ChatTemplateError/templateNotFound(_:)`` for any other shape.
  public init(chatTemplateValue value: JinjaValue) throws(ChatTemplateError) {
    switch value {
    case .string(let text):
      templates = ["default": text]
    case .array(let entries):
      var templates: [String: String] = [:]
      for entry in entries {
        guard case .dictionary(let object) = entry, case .string(let name) = object["name"] ?? .none,
          case .string(let text) = object["template"] ?? .none
        else {
          throw .templateNotFound("tokenizer_config.json: each chat_template entry needs a string 'name' and 'template'")
        }
        templates[name] = text
      }
      self.templates = templates
    default:
      throw .templateNotFound("tokenizer_config.json: chat_template must be a string or a list of named templates")
    }
  }

  /// The templates of a model folder: `chat_template.jinja` and `additional_chat_templates/*.jinja`, else the
  /// `chat_template` of `tokenizer_config.json`.
  ///
  /// - Parameter directory: The model folder.
  /// - Throws: ``ChatTemplateError/templateNotFound(_:)`` naming the folder when it has no template, or the file
  ///   that cannot be read.
  public init(modelDirectory directory: URL) throws(ChatTemplateError) {
    var templates: [String: String] = [:]
    let manager = FileManager.default
    let single = directory.appending(path: "chat_template.jinja")
    if manager.fileExists(atPath: single.path) { templates["default"] = try Self.read(single) }
    let extra = directory.appending(path: "additional_chat_templates")
    if let names = try? manager.contentsOfDirectory(atPath: extra.path) {
      for name in names.sorted() where name.hasSuffix(".jinja") {
        templates[String(name.dropLast(6))] = try Self.read(extra.appending(path: name))
      }
    }
    if !templates.isEmpty {
      self.init(templates: templates)
      return
    }
    let config = directory.appending(path: "tokenizer_config.json")
    guard manager.fileExists(atPath: config.path) else {
      throw .templateNotFound("\(directory.path): no chat_template.jinja and no tokenizer_config.json")
    }
    let parsed: JinjaValue
    do {
      parsed = try JinjaValue(json: try Self.read(config))
    } catch let error as JinjaJSONError {
      throw .templateNotFound("\(config.path): \(error.description)")
    } catch {
      throw .templateNotFound("\(config.path): \(error)")
    }
    guard case .dictionary(let object) = parsed, let value = object["chat_template"], !(value.isNone) else {
      throw .templateNotFound("\(config.path) has no chat_template")
    }
    try self.init(chatTemplateValue: value)
  }

  /// The template to use, as transformers' `get_chat_template` chooses it.
  ///
  /// - Parameters:
  ///   - name: A template name the caller asks for; `nil` picks `tool_use` when tools are given, else `default`.
  ///   - hasTools: Whether the conversation passes tools.
  /// - Returns: The template text.
  /// - Throws: ``ChatTemplateError/templateNotFound(_:)`` listing the available names.
  public func select(name: String? = nil, hasTools: Bool = false) throws(ChatTemplateError) -> String {
    let available = templates.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
    if let name {
      guard let text = templates[name] else {
        throw .templateNotFound("no chat template named '\(name)'; available: \(available)")
      }
      return text
    }
    if hasTools, let text = templates["tool_use"] { return text }
    if let text = templates["default"] { return text }
    throw .templateNotFound(
      "This model has multiple chat templates with no default specified! Available template names are [\(available)].")
  }

  private static func read(_ url: URL) throws(ChatTemplateError) -> String {
    do {
      return String(decoding: try Data(contentsOf: url), as: UTF8.self)
    } catch {
      throw .templateNotFound("\(url.path): cannot be read (\(error.localizedDescription))")
    }
  }
}

extension JinjaValue {
  /// Whether the value is `None`.
  public var isNone: Bool {
    if case .none = self { return true }
    return false
  }
}
