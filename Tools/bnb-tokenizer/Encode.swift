import ArgumentParser
import Foundation
import Tokenizers

/// `bnb-tokenizer encode`.
struct Encode: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the token ids and tokens of a text.",
    discussion: "Without --json, prints two lines: `ids: [...]` and `tokens: [...]` (JSON arrays)."
  )

  @Option(name: .long, help: "The model folder (with tokenizer.json).")
  var model: String

  @Argument(help: "The text to encode.")
  var text: String?

  @Option(name: .customLong("text-file"), help: "Encode the exact bytes of this file (UTF-8) instead.")
  var textFile: String?

  @Flag(name: .customLong("no-special-tokens"), help: "Do not add the post-processor's special tokens (BOS, ...).")
  var noSpecialTokens = false

  @Flag(name: .long, help: "Print one JSON object with `ids` and `tokens`.")
  var json = false

  func validate() throws {
    if (text == nil) == (textFile == nil) { throw ValidationError("give either TEXT or --text-file, not both or neither") }
  }

  func run() throws {
    let input = try readInput()
    let tokenizer = try BNBTokenizer.loadTokenizer(model)
    let ids = tokenizer.encode(input, addSpecialTokens: !noSpecialTokens)
    let tokens = ids.map { tokenizer.token(for: $0) ?? "" }
    if json {
      BNBTokenizer.console.write(try BNBTokenizer.json(["ids": ids, "tokens": tokens]) + "\n")
    } else {
      BNBTokenizer.console.write("ids: \(try BNBTokenizer.json(["a": ids]).dropFirst(5).dropLast())\n")
      BNBTokenizer.console.write("tokens: \(try BNBTokenizer.json(["a": tokens]).dropFirst(5).dropLast())\n")
    }
  }

  private func readInput() throws(CommandFailure) -> String {
    guard let textFile else { return text ?? "" }
    let data: Data
    do {
      data = try Data(contentsOf: URL(filePath: textFile))
    } catch {
      throw CommandFailure(status: .io, message: "\(textFile): cannot read: \((error as NSError).localizedDescription)")
    }
    guard let string = String(validating: data, as: UTF8.self) else {
      throw CommandFailure(status: .invalidInput, message: "\(textFile): not valid UTF-8")
    }
    return string
  }
}
