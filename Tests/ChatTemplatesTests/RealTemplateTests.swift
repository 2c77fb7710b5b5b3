import ChatTemplates
import Foundation
import Testing

/// The real chat templates of Llama 3.1/3.2, Qwen2.5/3, Gemma 2, Phi-3, SmolLM2 and TinyLlama render
/// byte for byte what transformers' `apply_chat_template(..., tokenize=False)` renders.
@Suite("Real chat templates")
struct RealTemplateTests {
  static let cases: [JinjaValue] = (try? ChatFixtures.load("renders.json"))?["cases"].arrayValue ?? []

  @Test func fixturesArePresent() {
    #expect(Self.cases.count >= 40)
  }

  @Test(arguments: cases.indices)
  func rendersLikeTransformers(index: Int) throws {
    let fixture = Self.cases[index]
    let name = "\(fixture["template"].stringValue ?? "?")/\(fixture["name"].stringValue ?? "?")"
    let template = try ChatTemplate(source: try ChatFixtures.templateText(fixture["template"].stringValue ?? ""))
    let render = {
      try template.render(
        orderedMessages: fixture["messages"].arrayValue, addGenerationPrompt: fixture["add_generation_prompt"].isTruthy,
        context: fixture["context"].dictionaryValue, now: ChatFixtures.date(fixture["now"].stringValue ?? ""))
    }
    if let expected = fixture["expected"].stringValue {
      let rendered = try render()
      #expect(rendered == expected, "\(name)")
    } else if fixture["error_type"].stringValue == "RecursionError" {
      // jinja2 overflows Python's stack; we stop at a fixed macro depth with the same first words.
      do {
        _ = try render()
        Issue.record("\(name): expected endless recursion to fail")
      } catch {
        guard case .render(let message, _) = error as? ChatTemplateError else { throw error }
        #expect(message.hasPrefix("maximum recursion depth exceeded"), "\(name)")
      }
    } else {
      do {
        _ = try render()
        Issue.record("\(name): expected raise_exception")
      } catch ChatTemplateError.raised(let message) {
        #expect(message == fixture["error"].stringValue, "\(name)")
      }
    }
  }
}
