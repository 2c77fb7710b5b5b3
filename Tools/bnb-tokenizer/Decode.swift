import ArgumentParser
import Foundation
import Tokenizers

/// `bnb-tokenizer decode`.
struct Decode: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the text of token ids (exactly, with no newline added).",
    discussion: "Ids outside the vocabulary are skipped, as transformers does."
  )

  @Option(name: .long, help: "The model folder (with tokenizer.json).")
  var model: String

  @Option(name: .long, help: "Comma-separated token ids, e.g. 1,15043,3186.")
  var ids: String

  @Flag(name: .customLong("skip-special-tokens"), help: "Leave out special tokens.")
  var skipSpecialTokens = false

  @Flag(name: .long, help: "Print one JSON object with `text`.")
  var json = false

  func run() throws {
    var parsed: [Int] = []
    for field in ids.split(separator: ",", omittingEmptySubsequences: false) {
      let trimmed = field.trimmingCharacters(in: .whitespaces)
      guard let id = Int(trimmed), id >= 0 else {
        throw CommandFailure(status: .usage, message: "--ids: `\(trimmed)` is not a token id (expected e.g. 1,2,3)")
      }
      parsed.append(id)
    }
    let tokenizer = try BNBTokenizer.loadTokenizer(model)
    let text = tokenizer.decode(parsed, skipSpecialTokens: skipSpecialTokens)
    BNBTokenizer.console.write(json ? try BNBTokenizer.json(["text": text]) + "\n" : text)
  }
}
