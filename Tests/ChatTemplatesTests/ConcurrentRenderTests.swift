import ChatTemplates
import Testing

/// A parsed template is immutable and `Sendable`: renders from many tasks at once agree.
@Suite("Concurrent renders")
struct ConcurrentRenderTests {
  @Test func parallelRendersAgree() async throws {
    let template = try ChatTemplate(
      source: """
        {%- set ns = namespace(total=0) %}{% macro row(m) %}{{ m.role }}={{ m.content }}{% endmacro %}
        {%- for m in messages %}{% set ns.total = ns.total + m.content | length %}{{ row(m) }};{% endfor %}{{ ns.total }}
        """)
    let results = try await withThrowingTaskGroup(of: String.self) { group in
      for index in 0..<16 {
        group.addTask {
          try template.render(
            messages: [["role": "user", "content": .string(String(repeating: "x", count: index))]], addGenerationPrompt: false)
        }
      }
      return try await group.reduce(into: [String]()) { $0.append($1) }
    }
    #expect(Set(results) == Set((0..<16).map { "user=\(String(repeating: "x", count: $0));\($0)" }))
  }
}
