import Foundation

/// A conversation to render, read from JSON: a list of messages, or an object with `messages` and optional
/// `tools` and `documents` (the format `bnb-tokenizer render --messages` reads).
public struct ChatRequest: Sendable {
  /// The messages, key order kept.
  public var messages: [JinjaValue]
  /// The tool schemas, when given.
  public var tools: JinjaValue?
  /// The documents for retrieval-augmented templates, when given.
  public var documents: JinjaValue?

  /// A request from its parts.
  public init(messages: [JinjaValue], tools: JinjaValue? = nil, documents: JinjaValue? = nil) {
    self.messages = messages
    self.tools = tools
    self.documents = documents
  }

  /// Reads a request from JSON text.
  ///
  /// - Parameters:
  ///   - json: A list of message objects, or an object with `messages` and optional `tools` and `documents`.
  ///   - source: The file name to put in error messages.
  /// - Throws: ``ChatTemplateError/invalidRequest(_:)`` naming `source` and what is wrong.
  public init(json: String, source: String = "messages") throws(ChatTemplateError) {
    let value: JinjaValue
    do {
      value = try JinjaValue(json: json)
    } catch {
      throw .invalidRequest("\(source): \(error.description)")
    }
    var tools: JinjaValue?
    var documents: JinjaValue?
    let list: JinjaValue
    switch value {
    case .array: list = value
    case .dictionary(let object):
      guard let messages = object["messages"] else { throw .invalidRequest("\(source): the object has no 'messages'") }
      list = messages
      tools = object["tools"].flatMap { $0.isNone ? nil : $0 }
      documents = object["documents"].flatMap { $0.isNone ? nil : $0 }
      for (key, given) in [("tools", tools), ("documents", documents)] {
        if let given, case .array = given {
        } else if given != nil {
          throw .invalidRequest("\(source): '\(key)' must be a list")
        }
      }
    default: throw .invalidRequest("\(source): expected a list of messages or an object with 'messages'")
    }
    guard case .array(let messages) = list else { throw .invalidRequest("\(source): 'messages' must be a list") }
    for (index, message) in messages.enumerated() {
      guard case .dictionary = message else {
        throw .invalidRequest("\(source): message \(index) is \(message.typeName), not an object")
      }
    }
    self.init(messages: messages, tools: tools, documents: documents)
  }

  /// The context variables this request adds: `tools` and `documents` when given.
  public var variables: [String: JinjaValue] {
    var variables: [String: JinjaValue] = [:]
    if let tools { variables["tools"] = tools }
    if let documents { variables["documents"] = documents }
    return variables
  }
}
