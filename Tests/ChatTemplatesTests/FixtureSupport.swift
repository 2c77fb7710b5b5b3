import ChatTemplates
import Foundation
import TestSupport

/// Reads the JSON fixtures written by `Tools/fixtures/make_chat_template_fixtures.py`.
enum ChatFixtures {
  static func load(_ name: String) throws -> JinjaValue {
    let data = try Data(contentsOf: TestFiles.fixture("chat-templates/\(name)"))
    return try JinjaValue(json: String(decoding: data, as: UTF8.self))
  }

  static func templateText(_ name: String) throws -> String {
    String(decoding: try Data(contentsOf: TestFiles.fixture("chat-templates/templates/\(name).jinja")), as: UTF8.self)
  }

  /// The fixtures' clock, `2024-07-26T12:00:00` in the local time zone (as Python's naive `datetime`).
  static func date(_ text: String) -> Date? { ChatTemplate.localDate(from: text) }
}

extension JinjaValue {
  subscript(key: String) -> JinjaValue {
    if case .dictionary(let dictionary) = self { return dictionary[key] ?? .undefined(hint: key) }
    return .undefined(hint: key)
  }

  var arrayValue: [JinjaValue] {
    if case .array(let items) = self { return items }
    return []
  }

  var stringValue: String? {
    if case .string(let text) = self { return text }
    return nil
  }

  var dictionaryValue: [String: JinjaValue] {
    guard case .dictionary(let dictionary) = self else { return [:] }
    return Dictionary(uniqueKeysWithValues: dictionary.pairs.map { ($0.key, $0.value) })
  }
}
