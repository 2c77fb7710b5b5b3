import ChatTemplates
import Foundation
import TestSupport
import Testing

/// Choosing the template of a model as transformers does: files first, then `tokenizer_config.json`,
/// `default` or `tool_use` among named templates.
@Suite("Chat template selection")
struct ChatTemplateSetTests {
  @Test func namedTemplatesPickDefaultOrToolUse() throws {
    let value = try JinjaValue(
      json: #"[{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}, {"name": "rag", "template": "R"}]"#)
    let set = try ChatTemplateSet(chatTemplateValue: value)
    #expect(try set.select() == "D")
    #expect(try set.select(hasTools: true) == "T")
    #expect(try set.select(name: "rag") == "R")
    #expect(throws: ChatTemplateError.self) { try set.select(name: "missing") }
  }

  @Test func noDefaultIsAnError() throws {
    let set = try ChatTemplateSet(chatTemplateValue: try JinjaValue(json: #"[{"name": "rag", "template": "R"}]"#))
    #expect(throws: ChatTemplateError.self) { try set.select() }
    #expect(throws: ChatTemplateError.self) { try ChatTemplateSet(chatTemplateValue: .int(3)) }
    #expect(throws: ChatTemplateError.self) { try ChatTemplateSet(chatTemplateValue: try JinjaValue(json: #"[{"name": 1}]"#)) }
  }

  @Test func modelFolderFilesTakePriority() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    try #"{"chat_template": "from config", "bos_token": "<s>"}"#.write(
      to: folder.appending(path: "tokenizer_config.json"), atomically: true, encoding: .utf8)
    #expect(try ChatTemplateSet(modelDirectory: folder).select() == "from config")
    try "from file".write(to: folder.appending(path: "chat_template.jinja"), atomically: true, encoding: .utf8)
    #expect(try ChatTemplateSet(modelDirectory: folder).select() == "from file")
  }

  @Test func folderWithoutTemplateNamesTheFile() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(throws: ChatTemplateError.self) { try ChatTemplateSet(modelDirectory: folder) }
    try #"{"bos_token": "<s>""#.write(to: folder.appending(path: "tokenizer_config.json"), atomically: true, encoding: .utf8)
    do {
      _ = try ChatTemplateSet(modelDirectory: folder)
      Issue.record("expected an error for truncated JSON")
    } catch {
      guard case .templateNotFound(let message) = error else { throw error }
      #expect(message.contains("tokenizer_config.json"))
    }
  }
}
