import BNBPatchKit
import Foundation
import TestSupport
import Testing

@testable import BNBGenerateKit

/// README's third block: quantize the example, then chat with the result (the same commands, in-process).
@Suite("README chat block")
struct ReadmeChatTests {
  static let exampleHasTokenizer = FileManager.default.fileExists(
    atPath: TestFiles.tinyLlama.appending(path: "tokenizer.json").path)

  @Test(.enabled(if: exampleHasTokenizer, "Examples/tiny-llama has no tokenizer.json yet"))
  func quantizeThenChat() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appending(path: "tiny-llama-nf4")
    let job = TestFiles.repository.appending(path: "Examples/quant.yaml").path
    #expect(await BNBPatch.run(arguments: ["--config", job, "-o", output.path, "--quiet"], console: .capturing()) == 0)
    let result = await Commands.chat(
      ["--model", output.path, "--max-new-tokens", "32"], lines: ["Hello! Who are you?", "/stats"])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("conversation: 2 messages"))
  }
}
