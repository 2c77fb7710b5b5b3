import ChatTemplates
import Foundation
import Testing

/// Render failures carry the template location; JSON values keep key order and Python's formatting.
@Suite("Render errors and values")
struct RenderErrorTests {
  @Test func undefinedAttributeNamesLineAndColumn() throws {
    let template = try ChatTemplate(source: "ok\n  {{ 1 }}{{ user.name }}")
    do {
      _ = try template.render(messages: [], addGenerationPrompt: false)
      Issue.record("expected an error")
    } catch {
      #expect(error == .render(message: "'user' is undefined", location: SourceLocation(line: 2, column: 13)))
    }
  }

  @Test func unknownFilterFailsAtParseTimeEvenInDeadCode() {
    do {
      _ = try ChatTemplate(source: "{% if false %}\n{{ x | shout }}{% endif %}")
      Issue.record("expected an error")
    } catch {
      #expect(error == .syntax(message: "No filter named 'shout'.", location: SourceLocation(line: 2, column: 4)))
    }
  }

  @Test func raiseExceptionCarriesTheMessage() throws {
    let template = try ChatTemplate(source: "{{ raise_exception('Only ' ~ n ~ ' roles') }}")
    #expect(throws: ChatTemplateError.raised(message: "Only 2 roles")) {
      try template.render(messages: [], addGenerationPrompt: false, context: ["n": 2])
    }
  }

  @Test func swiftDictionaryMessagesRender() throws {
    let template = try ChatTemplate(source: "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}{{ add_generation_prompt }}")
    let text = try template.render(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true)
    #expect(text == "user:hi;True")
  }

  @Test func jsonKeepsOrderAndPythonFormatting() throws {
    let value = try JinjaValue(json: #"{"z": 1, "a": [1.0, 2.5e-7, "é\n", null, true], "m": {}}"#)
    #expect(try value.pythonJSON() == #"{"z": 1, "a": [1.0, 2.5e-07, "é\n", null, true], "m": {}}"#)
    #expect(try value.pythonJSON(ensureASCII: true, sortKeys: true) == #"{"a": [1.0, 2.5e-07, "\u00e9\n", null, true], "m": {}, "z": 1}"#)
    #expect(value.pythonRepr == #"{'z': 1, 'a': [1.0, 2.5e-07, 'é\n', None, True], 'm': {}}"#)
  }

  @Test func malformedJSONNamesTheOffset() {
    #expect(throws: JinjaJSONError.malformed("unterminated string", offset: 6)) { try JinjaValue(json: #"{"a": "b"#) }
    #expect(throws: JinjaJSONError.self) { try JinjaValue(json: "[1, 2") }
    #expect(throws: JinjaJSONError.self) { try JinjaValue(json: "{} extra") }
  }
}
