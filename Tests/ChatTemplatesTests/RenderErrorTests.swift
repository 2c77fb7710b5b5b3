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

  /// `'%d' % x` for floats beyond `Int`: Python prints `int(x)` exactly (values from CPython 3); infinity
  /// and NaN raise. A 1e300 once trapped the renderer (a Double→Int conversion).
  @Test func percentDOfHugeFloatsPrintsPythonsDigits() throws {
    let template = try ChatTemplate(source: "{{ '%d' % x }}")
    let cases: [(Double, String)] = [
      (
        1e300,
        "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160"
      ),
      (-2.5e19, "-25000000000000000000"), (9.3e18, "9300000000000000000"), (0x1p63, "9223372036854775808"),
      (-0x1p63, "-9223372036854775808"), (-7.9, "-7"),
      (
        .greatestFiniteMagnitude,
        "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368"
      ),
    ]
    for (value, expected) in cases {
      #expect(
        try template.render(messages: [], addGenerationPrompt: false, context: ["x": .double(value)]) == expected, "\(value)")
    }
    for (value, message) in [(Double.infinity, "infinity"), (.nan, "NaN")] {
      do {
        _ = try template.render(messages: [], addGenerationPrompt: false, context: ["x": .double(value)])
        Issue.record("'%d' % \(value) rendered")
      } catch {
        #expect("\(error)".contains("cannot convert float \(message) to integer"), "\(error)")
      }
    }
  }

  /// A `%.Nf` precision is text the render would build: beyond the text budget it is refused before any
  /// allocation; `%.f` is precision 0, as in Python.
  @Test func percentPrecisionIsBounded() throws {
    #expect(
      try ChatTemplate(source: "{{ '%.f|%.2f' % (2.5, 1.0) }}").render(messages: [], addGenerationPrompt: false) == "2|1.00")
    for digits in ["99999999999999999999999", "100000000"] {
      #expect(throws: ChatTemplateError.self, "\(digits)") {
        try ChatTemplate(source: "{{ '%.\(digits)f' % 1.0 }}").render(messages: [], addGenerationPrompt: false)
      }
    }
  }

  @Test func raiseExceptionCarriesTheMessage() throws {
    let template = try ChatTemplate(source: "{{ raise_exception('Only ' ~ n ~ ' roles') }}")
    #expect(throws: ChatTemplateError.raised(message: "Only 2 roles")) {
      try template.render(messages: [], addGenerationPrompt: false, context: ["n": 2])
    }
  }

  @Test func swiftDictionaryMessagesRender() throws {
    let template = try ChatTemplate(
      source: "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% endfor %}{{ add_generation_prompt }}")
    let text = try template.render(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: true)
    #expect(text == "user:hi;True")
  }

  @Test func jsonKeepsOrderAndPythonFormatting() throws {
    let value = try JinjaValue(json: #"{"z": 1, "a": [1.0, 2.5e-7, "é\n", null, true], "m": {}}"#)
    #expect(try value.pythonJSON() == #"{"z": 1, "a": [1.0, 2.5e-07, "é\n", null, true], "m": {}}"#)
    #expect(
      try value.pythonJSON(ensureASCII: true, sortKeys: true)
        == #"{"a": [1.0, 2.5e-07, "\u00e9\n", null, true], "m": {}, "z": 1}"#)
    #expect(value.pythonRepr == #"{'z': 1, 'a': [1.0, 2.5e-07, 'é\n', None, True], 'm': {}}"#)
  }

  @Test func malformedJSONNamesTheOffset() {
    #expect(throws: JinjaJSONError.malformed("unterminated string", offset: 6)) { try JinjaValue(json: #"{"a": "b"#) }
    #expect(throws: JinjaJSONError.self) { try JinjaValue(json: "[1, 2") }
    #expect(throws: JinjaJSONError.self) { try JinjaValue(json: "{} extra") }
  }
}

/// Hostile templates fail with an error instead of exhausting the stack.
@Suite("Template limits")
struct TemplateLimitTests {
  @Test func endlessMacroRecursionFails() throws {
    let template = try ChatTemplate(source: "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    #expect(throws: ChatTemplateError.self) { try template.render(variables: [:]) }
  }

  @Test func boundedMacroRecursionWorks() throws {
    let template = try ChatTemplate(
      source: "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(10) }}")
    #expect(try template.render(variables: [:]) == "10987654321")
  }

  @Test func deepNestingIsASyntaxError() {
    let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ \(deep) }}") }
    let blocks = String(repeating: "{% if 1 %}", count: 5000)
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: blocks) }
    let unary = String(repeating: "not ", count: 5000)
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ \(unary) 1 }}") }
    let negations = String(repeating: "-", count: 5000)
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ \(negations)1 }}") }
  }
}

extension TemplateLimitTests {
  @Test func longOperatorChainsAreRefused() {
    let chain = Array(repeating: "1", count: 5000).joined(separator: " + ")
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ \(chain) }}") }
    let filters = "{{ 'a'" + String(repeating: " | upper", count: 5000) + " }}"
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: filters) }
    let conditionals = "{{ " + String(repeating: "1 if x else ", count: 5000) + "2 }}"
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: conditionals) }
  }
}

/// The `--now` clock format.
@Suite("Local dates")
struct LocalDateTests {
  @Test func readsLocalDateAndTime() throws {
    let date = try #require(ChatTemplate.localDate(from: "2024-07-26T12:34:56"))
    let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone.current, from: date)
    #expect([parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second] == [2024, 7, 26, 12, 34, 56])
  }

  @Test(arguments: [
    "2024-13-01T00:00:00", "2024-02-30T00:00:00", "2024-07-26", "2024-07-26T12:00", "yesterday", "2024-07-26 12:00:00",
  ])
  func refusesOtherForms(text: String) {
    #expect(ChatTemplate.localDate(from: text) == nil)
  }
}
