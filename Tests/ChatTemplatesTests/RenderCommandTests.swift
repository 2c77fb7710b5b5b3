import ChatTemplates
import Foundation
import TestSupport
import Testing

@testable import bnb_tokenizer

/// `bnb-tokenizer render` in-process: every fixture conversation through a temporary model folder gives
/// transformers' text, and failures exit with the documented statuses and messages.
@Suite("bnb-tokenizer render")
struct RenderCommandTests {
  static func run(_ arguments: [String]) -> (status: Int32, output: String, errors: String) {
    let console = Console.buffer()
    let status = BNBTokenizer.$console.withValue(console) { BNBTokenizer.run(arguments: arguments) }
    return (status, console.standardOutput, console.standardError)
  }

  /// A model folder with `tokenizer_config.json` holding `template` and the fixtures' special tokens.
  static func modelFolder(template: String) throws -> URL {
    let folder = try TestFiles.scratchFolder()
    let config = JinjaValue.dictionary(
      JinjaDictionary([
        ("chat_template", .string(template)), ("bos_token", "<s>"), ("eos_token", "</s>"), ("unk_token", "<unk>"),
      ]))
    try config.pythonJSON().write(to: folder.appending(path: "tokenizer_config.json"), atomically: true, encoding: .utf8)
    return folder
  }

  @Test(arguments: RealTemplateTests.cases.indices)
  func fixtureConversationsRenderAsTransformers(index: Int) throws {
    let fixture = RealTemplateTests.cases[index]
    let folder = try Self.modelFolder(template: try ChatFixtures.templateText(fixture["template"].stringValue ?? ""))
    defer { try? FileManager.default.removeItem(at: folder) }
    var request = JinjaDictionary([("messages", fixture["messages"])])
    var extra = JinjaDictionary()
    for (key, value) in fixture["context"].dictionaryValue.sorted(by: { $0.key < $1.key }) {
      switch key {
      case "bos_token", "eos_token", "unk_token": continue
      case "tools", "documents": request[key] = value
      default: extra[key] = value
      }
    }
    let messages = folder.appending(path: "chat.json")
    try JinjaValue.dictionary(request).pythonJSON().write(to: messages, atomically: true, encoding: .utf8)
    var arguments = ["render", "--model", folder.path, "--messages", messages.path, "--now", fixture["now"].stringValue ?? ""]
    if fixture["add_generation_prompt"].isTruthy { arguments.append("--add-generation-prompt") }
    if extra.count > 0 { arguments += ["--kwargs", try JinjaValue.dictionary(extra).pythonJSON()] }
    let result = Self.run(arguments)
    if let expected = fixture["expected"].stringValue {
      #expect(result.status == 0, "\(result.errors)")
      #expect(result.output == expected)
    } else if fixture["error_type"].stringValue == "RecursionError" {
      #expect(result.status == 66)
      #expect(result.errors.contains("maximum recursion depth exceeded"))
    } else {
      #expect(result.status == 1)
      #expect(result.errors.contains(fixture["error"].stringValue ?? "?"))
    }
  }

  @Test func failuresHaveStatusesAndMessages() throws {
    let folder = try Self.modelFolder(template: "{{ messages[0].content }}{% if x %}")
    defer { try? FileManager.default.removeItem(at: folder) }
    let messages = folder.appending(path: "chat.json")
    try #"[{"role": "user", "content": "hi"}]"#.write(to: messages, atomically: true, encoding: .utf8)
    let syntax = Self.run(["render", "--model", folder.path, "--messages", messages.path])
    #expect(syntax.status == 66)
    #expect(syntax.errors.contains("Unexpected end of template"))
    let missing = Self.run(["render", "--model", folder.path, "--messages", folder.appending(path: "nope.json").path])
    #expect(missing.status == 74)
    let badClock = Self.run(["render", "--model", folder.path, "--messages", messages.path, "--now", "yesterday"])
    #expect(badClock.status == 64)
    let template = folder.appending(path: "t.jinja")
    try "{{ raise_exception('no ' ~ messages[0].role) }}".write(to: template, atomically: true, encoding: .utf8)
    let raised = Self.run(["render", "--model", folder.path, "--messages", messages.path, "--template", template.path])
    #expect(raised.status == 1)
    #expect(raised.errors == "error: no user\n")
    try "[1]".write(to: messages, atomically: true, encoding: .utf8)
    let malformed = Self.run(["render", "--model", folder.path, "--messages", messages.path, "--template", template.path])
    #expect(malformed.status == 66)
    #expect(malformed.errors.contains("message 0 is int"))
  }
}
