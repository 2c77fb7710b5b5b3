import Foundation
import TestSupport
import Testing
import TextGeneration
import Tokenizers

@testable import BNBGenerateKit

/// The commands stream through the Tokenizers module's byte-exact detokenizer.
@Suite struct StreamingCodecTests {
  @Test func byteFallbackCharactersAppearWhole() throws {
    let tokenizer = try Tokenizer.load(directory: TestFiles.fixture("tokenizers/llama2"))
    let codec = TokenizerCodec(tokenizer: tokenizer, template: nil)
    // "a🙂é b" with the emoji and the accent spelled as byte-fallback tokens, and special tokens around it.
    let byteTokens = ["<0xF0>", "<0x9F>", "<0x99>", "<0x82>", "<0xC3>", "<0xA9>"]
    let bytes = try byteTokens.map { try #require(tokenizer.id(for: $0), "\($0)") }
    let ids =
      [try #require(tokenizer.bosTokenID)] + tokenizer.encode("a", addSpecialTokens: false) + bytes
      + tokenizer.encode(" b", addSpecialTokens: false)
    var decoder = codec.makeStreamingDecoder()
    var pieces: [String] = []
    for id in ids { pieces.append(decoder.append(id)) }
    pieces.append(decoder.finish())
    #expect(pieces.joined() == codec.decode(ids))
    #expect(codec.decode(ids).contains("🙂é"))
    // No piece shows half a character, and the emoji's first three bytes show nothing.
    #expect(!pieces.contains { $0.contains("\u{FFFD}") })
    #expect(pieces.contains { $0.contains("🙂") })
    let emojiStart = ids.count - bytes.count - tokenizer.encode(" b", addSpecialTokens: false).count
    #expect(pieces[emojiStart..<emojiStart + 3].allSatisfy { $0.isEmpty })
  }
}
