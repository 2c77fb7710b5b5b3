import Foundation
import Testing

@testable import Tokenizers

/// The template files transformers 5 reads: `chat_template.jinja` and `additional_chat_templates/NAME.jinja`.
@Suite struct ChatTemplateFilesTests {
  private func folder(config: String?, jinja: String?, additional: [String: String]) throws -> URL {
    let manager = FileManager.default
    let folder = manager.temporaryDirectory.appending(path: "templates-\(UUID().uuidString)")
    try manager.createDirectory(at: folder, withIntermediateDirectories: true)
    if let config { try Data(config.utf8).write(to: folder.appending(path: "tokenizer_config.json")) }
    if let jinja { try Data(jinja.utf8).write(to: folder.appending(path: "chat_template.jinja")) }
    if !additional.isEmpty {
      let extra = folder.appending(path: "additional_chat_templates")
      try manager.createDirectory(at: extra, withIntermediateDirectories: true)
      for (name, text) in additional { try Data(text.utf8).write(to: extra.appending(path: "\(name).jinja")) }
    }
    return folder
  }

  @Test func jinjaFileWinsOverTokenizerConfig() throws {
    let url = try folder(config: #"{"chat_template": "from config"}"#, jinja: "from file", additional: [:])
    defer { try? FileManager.default.removeItem(at: url) }
    let source = try #require(try TokenizerConfiguration.load(directory: url).chatTemplate)
    #expect(source.template() == "from file")
  }

  @Test func additionalTemplatesAreNamed() throws {
    let url = try folder(config: nil, jinja: "default text", additional: ["tool_use": "tools text", "rag": "rag text"])
    defer { try? FileManager.default.removeItem(at: url) }
    let source = try #require(try TokenizerConfiguration.load(directory: url).chatTemplate)
    #expect(source.template() == "default text")
    #expect(source.template(named: "tool_use") == "tools text")
    #expect(source.template(named: "rag") == "rag text")
    #expect(source.template(named: "other") == nil)
  }

  @Test func listInTokenizerConfigPicksDefault() throws {
    let url = try folder(
      config: #"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#,
      jinja: nil, additional: [:])
    defer { try? FileManager.default.removeItem(at: url) }
    let source = try #require(try TokenizerConfiguration.load(directory: url).chatTemplate)
    #expect(source.template() == "D")
    #expect(source.template(named: "tool_use") == "T")
  }
}
