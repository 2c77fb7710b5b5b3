import ChatTemplates
import Testing

/// Templates that are not valid Jinja fail with the line:column of what was found.
@Suite("Chat template syntax errors")
struct SyntaxErrorTests {
  @Test func unclosedForNamesTheBlock() {
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{% for x in y %}\n{{ x }}") }
    do {
      _ = try ChatTemplate(source: "line one\n  {{ 1 + }}")
      Issue.record("expected a syntax error")
    } catch {
      guard case .syntax(_, let location) = error else {
        Issue.record("wrong error \(error)")
        return
      }
      #expect(location == SourceLocation(line: 2, column: 10))
    }
  }
}
