import Foundation
import Testing

@testable import Tokenizers

@Suite struct StreamingDetokenizerTests {
  @Test(arguments: TransformersParityTests.families, [false, true])
  func streamedTextEqualsWholeDecode(_ family: String, skipSpecialTokens: Bool) throws {
    let directory = TokenizerFixture.directory.appending(path: family)
    let tokenizer = try Tokenizer.load(directory: directory)
    let object = try #require(try TokenizerFixture.json(directory.appending(path: "expected.json")) as? [String: Any])
    var failures: [String] = []
    for ids in TokenizerFixture(object).idSequences {
      var stream = tokenizer.makeStreamingDetokenizer(skipSpecialTokens: skipSpecialTokens)
      var streamed: [UInt8] = []
      for id in ids { streamed += Array(stream.append(id).utf8) }
      streamed += Array(stream.finish().utf8)
      let whole = Array(tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens).utf8)
      if streamed != whole {
        failures.append(
          "\(ids.prefix(30)): \(String(decoding: streamed, as: UTF8.self).debugDescription) expected \(String(decoding: whole, as: UTF8.self).debugDescription)"
        )
      }
    }
    #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.prefix(10).joined(separator: "\n"))")
  }

  @Test func holdsBackSplitCharacterUntilComplete() throws {
    let tokenizer = try Tokenizer.load(directory: TokenizerFixture.directory.appending(path: "llama2"))
    // "€" is E2 82 AC; the byte tokens arrive one at a time.
    let bytes = try [0xE2, 0x82, 0xAC].map { try #require(tokenizer.id(for: BPE.byteToken(UInt8($0)))) }
    let word = try #require(tokenizer.id(for: "a"))
    #expect(tokenizer.decode([word]) == "a")
    var stream = tokenizer.makeStreamingDetokenizer()
    #expect(stream.append(word) == "a")
    #expect(stream.append(bytes[0]) == "")
    #expect(stream.append(bytes[1]) == "")
    #expect(stream.append(bytes[2]) == "")
    #expect(stream.append(word) == "€a")
    #expect(stream.finish() == "")
  }

  @Test func byteLevelCharacterIsHandedOutWhenComplete() throws {
    let tokenizer = try Tokenizer.load(directory: TokenizerFixture.directory.appending(path: "gpt2"))
    // "é" is C3 A9: in GPT-2's alphabet "Ã" and "©".
    let first = try #require(tokenizer.id(for: "Ã"))
    let second = try #require(tokenizer.id(for: "©"))
    var stream = tokenizer.makeStreamingDetokenizer()
    #expect(stream.append(first) == "")
    #expect(stream.append(second) == "é")
    #expect(stream.append(first) == "")
    #expect(stream.finish() == "\u{FFFD}")
  }
}
