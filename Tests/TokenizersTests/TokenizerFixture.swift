import Foundation
import TestSupport

@testable import Tokenizers

/// The expectations that `Tools/fixtures/make_tokenizer_fixtures.py` recorded from transformers.
struct TokenizerFixture {
  struct Case {
    var text: String
    var ids: [Int]
    var idsPlain: [Int]
    var tokens: [String]?
    var decode: String
    var decodeSkip: String
  }

  struct Decode {
    var ids: [Int]
    var text: String
    var textSkip: String
  }

  var cases: [Case] = []
  var decodes: [Decode] = []

  static let directory = URL(filePath: FixtureDirectory.path).appending(path: "tokenizers")

  init(_ object: [String: Any]) {
    for entry in object["cases"] as? [[String: Any]] ?? [] {
      let text = entry["text"] as? String ?? ""
      let ids = entry["ids"] as? [Int] ?? []
      let decode = entry["decode"] as? String ?? text
      cases.append(
        Case(
          text: text, ids: ids, idsPlain: entry["ids_plain"] as? [Int] ?? ids, tokens: entry["tokens"] as? [String],
          decode: decode, decodeSkip: entry["decode_skip"] as? String ?? decode))
    }
    for entry in object["decodes"] as? [[String: Any]] ?? [] {
      decodes.append(
        Decode(
          ids: entry["ids"] as? [Int] ?? [], text: entry["text"] as? String ?? "", textSkip: entry["text_skip"] as? String ?? ""))
    }
  }

  static func json(_ url: URL) throws -> Any {
    try JSONSerialization.jsonObject(with: try Data(contentsOf: url))
  }

  /// Compares a tokenizer with the recorded expectations; one line per mismatch.
  func mismatches(of tokenizer: Tokenizer) -> [String] {
    var failures: [String] = []
    func short(_ text: String) -> String {
      text.count > 60 ? String(text.prefix(60)).debugDescription + "…" : text.debugDescription
    }
    for item in cases {
      let ids = tokenizer.encode(item.text)
      if ids != item.ids { failures.append("encode \(short(item.text)): \(ids.prefix(40)) expected \(item.ids.prefix(40))") }
      let plain = tokenizer.encode(item.text, addSpecialTokens: false)
      if plain != item.idsPlain {
        failures.append("encode (no special) \(short(item.text)): \(plain.prefix(40)) expected \(item.idsPlain.prefix(40))")
      }
      if let tokens = item.tokens, tokens != item.ids.map({ tokenizer.token(for: $0) ?? "?" }) {
        failures.append("tokens \(short(item.text)): \(item.ids.map { tokenizer.token(for: $0) ?? "?" }) expected \(tokens)")
      }
      let decoded = tokenizer.decode(item.ids)
      if decoded != item.decode || !decoded.utf8.elementsEqual(item.decode.utf8) {
        failures.append("decode \(item.ids.prefix(20)): \(short(decoded)) expected \(short(item.decode))")
      }
      let skipped = tokenizer.decode(item.ids, skipSpecialTokens: true)
      if !skipped.utf8.elementsEqual(item.decodeSkip.utf8) {
        failures.append("decode (skip special) \(item.ids.prefix(20)): \(short(skipped)) expected \(short(item.decodeSkip))")
      }
    }
    for item in decodes {
      let decoded = tokenizer.decode(item.ids)
      if !decoded.utf8.elementsEqual(item.text.utf8) {
        failures.append("decode \(item.ids): \(decoded.debugDescription) expected \(item.text.debugDescription)")
      }
      let skipped = tokenizer.decode(item.ids, skipSpecialTokens: true)
      if !skipped.utf8.elementsEqual(item.textSkip.utf8) {
        failures.append(
          "decode (skip special) \(item.ids): \(skipped.debugDescription) expected \(item.textSkip.debugDescription)")
      }
    }
    return failures
  }

  /// Every id sequence of the fixture (encoded cases and random decodes).
  var idSequences: [[Int]] { cases.map(\.ids) + decodes.map(\.ids) }
}
