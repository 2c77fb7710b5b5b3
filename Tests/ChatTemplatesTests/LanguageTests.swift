import ChatTemplates
import Foundation
import Testing

/// One language piece per template, compared with jinja2 in transformers' environment
/// (`trim_blocks`, `lstrip_blocks`, the sandbox, `tojson`, `raise_exception`, `strftime_now`).
@Suite("Jinja language pieces")
struct LanguageTests {
  static let fixture = (try? ChatFixtures.load("language.json")) ?? .none
  static let cases = fixture["cases"].arrayValue
  static let syntaxErrors = fixture["syntax_errors"].arrayValue

  @Test func fixturesArePresent() {
    #expect(Self.cases.count >= 50)
    #expect(Self.syntaxErrors.count >= 10)
  }

  @Test(arguments: cases.indices)
  func matchesJinja2(index: Int) throws {
    let fixture = Self.cases[index]
    let source = fixture["template"].stringValue ?? ""
    let now = ChatFixtures.date(fixture["now"].stringValue ?? "")
    if let expected = fixture["expected"].stringValue {
      let rendered = try ChatTemplate(source: source).render(variables: fixture["variables"].dictionaryValue, now: now)
      #expect(rendered == expected, "\(source)")
      return
    }
    // jinja2 failed: so must we, with its message.
    let message = fixture["error"].stringValue ?? ""
    do {
      _ = try ChatTemplate(source: source).render(variables: fixture["variables"].dictionaryValue, now: now)
      Issue.record("expected a failure like \(message) for \(source)")
    } catch {
      switch error {
      case .raised(let text): #expect(text == message)
      case .render(let text, _), .syntax(let text, _): #expect(text == message, "\(source)")
      case .templateNotFound, .invalidRequest: Issue.record("unexpected \(error)")
      }
    }
  }

  @Test(arguments: syntaxErrors.indices)
  func syntaxErrorNamesTheLine(index: Int) {
    let fixture = Self.syntaxErrors[index]
    let source = fixture["template"].stringValue ?? ""
    do {
      _ = try ChatTemplate(source: source)
      Issue.record("expected a syntax error for \(source)")
    } catch {
      guard case .syntax(_, let location) = error else {
        Issue.record("expected a syntax error, got \(error)")
        return
      }
      #expect(location.line == fixture["line"].integerValue, "\(source)")
    }
  }
}

extension JinjaValue {
  var integerValue: Int? {
    if case .int(let value) = self { return value }
    return nil
  }
}
