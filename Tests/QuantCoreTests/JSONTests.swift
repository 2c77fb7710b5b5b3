import Foundation
import TestSupport
import Testing

@testable import QuantCore

@Suite("JSON reading and Python-compatible writing")
struct JSONTests {
  @Test(arguments: [
    "hf/tiny-llama-bnb-nf4-dq/config.json", "hf/tiny-llama-bnb-int8/config.json", "hf/tiny-llama-bnb-fp4/config.json",
  ])
  func configRoundTripsExactly(_ path: String) throws {
    let text = try String(contentsOf: TestFiles.fixture(path), encoding: .utf8)
    let value = try JSONParser.parse(text)
    #expect(value.text(style: .python(indent: 2, sortKeys: true)) + "\n" == text)
  }

  @Test func pythonFloatRepr() {
    let cases: [(Double, String)] = [
      (6.0, "6.0"), (1e-06, "1e-06"), (1e-05, "1e-05"), (0.0001, "0.0001"), (1e16, "1e+16"),
      (1e15, "1000000000000000.0"), (0.1, "0.1"), (10000.0, "10000.0"), (-0.0, "-0.0"),
      (.infinity, "Infinity"), (.nan, "NaN"),
    ]
    for (value, text) in cases { #expect(JSONNumber(value).literal == text) }
  }

  @Test func pythonStringEscapes() {
    let value = JSONValue.object([JSONMember(key: "k", value: .string("é\"\\\n\u{1}😀"))])
    #expect(value.text(style: .python(indent: 2, sortKeys: true)) == "{\n  \"k\": \"\\u00e9\\\"\\\\\\n\\u0001\\ud83d\\ude00\"\n}")
    #expect(value.text(style: .compact) == "{\"k\":\"é\\\"\\\\\\n\\u0001😀\"}")
  }

  @Test func parsesEscapesAndRejectsLoneSurrogates() throws {
    #expect(try JSONParser.parse(#"["\u00e9\ud83d\ude00\/"]"#) == .array([.string("é😀/")]))
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(#"["\ud83d"]"#) }
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse("[01]") }
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse("[1] x") }
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(String(repeating: "[", count: 200)) }
  }

  @Test func nonFiniteNumbersOnlyWhenAllowed() throws {
    for text in ["[NaN]", "[Infinity]", "[-Infinity]"] {
      #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(bytes: Array(text.utf8)) }
    }
    let value = try JSONParser.parse(bytes: Array("[NaN, Infinity, -Infinity, -1]".utf8), allowsNonFiniteNumbers: true)
    let numbers = try #require(value.elements?.compactMap { $0.numberValue?.doubleValue })
    #expect(numbers.count == 4 && numbers[0].isNaN && numbers[1] == .infinity && numbers[2] == -.infinity && numbers[3] == -1)
    #expect(value.elements?.map { $0.numberValue?.isInteger } == [false, false, false, true])
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(bytes: Array("[-Inf]".utf8), allowsNonFiniteNumbers: true) }
  }

  @Test func pythonOneLineLayoutRoundTrips() throws {
    let text = "{\"b\": [1, 2.5, NaN], \"a\": {\"c\": \"\\u00e9\"}}"
    let value = try JSONParser.parse(bytes: Array(text.utf8), allowsNonFiniteNumbers: true)
    #expect(value.text(style: .python(indent: nil, sortKeys: false)) == text)
  }
}
