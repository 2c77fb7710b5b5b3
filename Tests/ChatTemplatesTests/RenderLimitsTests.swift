import Testing

@testable import ChatTemplates

/// A template is code from a downloaded file: loops, repetitions and ranges end with an error (or, where
/// Python gives a value, with that value) instead of running, allocating or trapping without bound.
@Suite struct RenderLimitsTests {
  private func failure(_ source: String) throws -> String? {
    let template = try ChatTemplate(source: source)
    do {
      // A small step budget keeps the endless loops short; the size limits are the real ones.
      _ = try template.render(variables: [:], now: nil, maximumSteps: 100_000)
      return nil
    } catch {
      return "\(error)"
    }
  }

  @Test(arguments: [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'ab' * 100000000000 }}",
    "{{ 'ab' * 9223372036854775807 }}",
    "{{ ([1, 2] * 100000000000) | length }}",
    "{{ 'a\\nb\\nc' | indent(100000000000) }}",
    "{{ {'a': 1} | tojson(indent=100000000000) }}",
    "{% set s = 'x' * 40000000 %}{{ s }}{{ s }}",
  ])
  func unboundedWorkFails(_ source: String) throws {
    let message = try #require(try failure(source), "\(source) rendered")
    #expect(message.contains("render budget exceeded"), "\(message)")
  }

  @Test func extremeRangesNeitherTrapNorRunLong() throws {
    let cases: [(String, String)] = [
      ("{{ range(-9223372036854775807, 9223372036854775807, 9223372036854775807) | list }}", "[-9223372036854775807, 0]"),
      ("{{ range(9223372036854775807, -9223372036854775807, -9223372036854775807) | list }}", "[9223372036854775807, 0]"),
      ("{{ range(3, 0) | list }}{{ range(0, 7, 3) | list }}{{ range(5, -1, -2) | list }}", "[][0, 3, 6][5, 3, 1]"),
    ]
    for (source, expected) in cases {
      #expect(try ChatTemplate(source: source).render(variables: [:]) == expected, "\(source)")
    }
    let tooLong = try #require(try failure("{{ range(-9223372036854775807, 9223372036854775807) | list }}"))
    #expect(tooLong.contains("Range too big"))
  }

  @Test func negativeIndentIsNoIndent() throws {
    #expect(try ChatTemplate(source: "{{ 'a\\nb' | indent(-3) }}").render(variables: [:]) == "a\nb")
  }

  @Test func ordinaryLoopsStayWithinTheBudget() throws {
    let source = "{% for i in range(200) %}{% for j in range(100) %}{% endfor %}{% endfor %}done"
    #expect(try ChatTemplate(source: source).render(variables: [:]) == "done")
  }
}
