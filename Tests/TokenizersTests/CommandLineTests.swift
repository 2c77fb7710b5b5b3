import Foundation
import Testing

@testable import Tokenizers
@testable import bnb_tokenizer

/// `bnb-tokenizer encode|decode`, run in-process.
@Suite struct CommandLineTests {
  private let model = TokenizerFixture.directory.appending(path: "llama3").path

  private func run(_ arguments: [String]) -> (status: Int32, output: String, errors: String) {
    let console = Console.buffer()
    let status = BNBTokenizer.$console.withValue(console) { BNBTokenizer.run(arguments: arguments) }
    return (status, console.standardOutput, console.standardError)
  }

  @Test func encodePrintsIdsAndTokensAsTheLibraryEncodes() throws {
    let tokenizer = try Tokenizer.load(directory: URL(filePath: model))
    let text = "Hello world<|eot_id|>"
    let ids = tokenizer.encode(text)
    let result = run(["encode", "--model", model, "--json", text])
    #expect(result.status == 0)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
    #expect(object["ids"] as? [Int] == ids)
    #expect(object["tokens"] as? [String] == ids.map { tokenizer.token(for: $0) ?? "" })
    #expect(ids.first == tokenizer.bosTokenID && ids.last == tokenizer.id(for: "<|eot_id|>"))

    let plain = run(["encode", "--model", model, "--no-special-tokens", text])
    #expect(plain.status == 0)
    let firstLine = try #require(plain.output.split(separator: "\n").first)
    #expect(firstLine == "ids: [" + ids.dropFirst().map(String.init).joined(separator: ",") + "]")
  }

  @Test func encodeReadsTheExactBytesOfATextFile() throws {
    let file = FileManager.default.temporaryDirectory.appending(path: "bnb-tokenizer-\(UUID().uuidString).txt")
    defer { try? FileManager.default.removeItem(at: file) }
    let text = "line\r\n  two\n"
    try Data(text.utf8).write(to: file)
    let tokenizer = try Tokenizer.load(directory: URL(filePath: model))
    let result = run(["encode", "--model", model, "--json", "--text-file", file.path])
    #expect(result.status == 0)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
    #expect(object["ids"] as? [Int] == tokenizer.encode(text))
  }

  @Test func decodePrintsTheTextWithoutNewline() throws {
    let tokenizer = try Tokenizer.load(directory: URL(filePath: model))
    let ids = tokenizer.encode("Hi there<|eot_id|>")
    let list = ids.map(String.init).joined(separator: ",")
    let result = run(["decode", "--model", model, "--ids", list])
    #expect(result.status == 0)
    #expect(result.output == "<|begin_of_text|>Hi there<|eot_id|>")
    let skipped = run(["decode", "--model", model, "--ids", list, "--skip-special-tokens", "--json"])
    #expect(skipped.output == #"{"text":"Hi there"}"# + "\n")
  }

  @Test func errorsNameTheFileAndSetTheStatus() throws {
    let missing = run(["decode", "--model", "/nonexistent-model", "--ids", "1"])
    #expect(missing.status == 74)
    #expect(missing.errors.contains("/nonexistent-model/tokenizer.json"))

    let folder = FileManager.default.temporaryDirectory.appending(path: "bnb-tokenizer-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    try Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8).write(to: folder.appending(path: "tokenizer.json"))
    let unsupported = run(["encode", "--model", folder.path, "hi"])
    #expect(unsupported.status == 66)
    #expect(unsupported.errors.contains("tokenizer.json") && unsupported.errors.contains("Unigram"))

    let badIDs = run(["decode", "--model", model, "--ids", "1,two"])
    #expect(badIDs.status == 64)
    #expect(badIDs.errors.contains("two"))

    let neither = run(["encode", "--model", model])
    #expect(neither.status == 64)
  }
}
