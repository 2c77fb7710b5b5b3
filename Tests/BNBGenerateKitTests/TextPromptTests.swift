import Foundation
import LanguageModels
import TestSupport
import Testing
import Tokenizers

@testable import BNBGenerateKit

/// `Examples/tiny-llama` with the trained Llama 2 test tokenizer (1000 ids, `<s>` 1, `</s>` 2, as the model)
/// and a Zephyr-style chat template, in a scratch folder.
func tinyLlamaWithTokenizer() throws -> URL {
  let folder = try TestFiles.scratchFolder()
  for name in ["config.json", "generation_config.json", "model.safetensors"] {
    try FileManager.default.copyItem(at: TestFiles.tinyLlama.appending(path: name), to: folder.appending(path: name))
  }
  let tokenizer = TestFiles.fixture("tokenizers/llama2")
  try FileManager.default.copyItem(
    at: tokenizer.appending(path: "tokenizer.json"), to: folder.appending(path: "tokenizer.json"))
  let data = try Data(contentsOf: tokenizer.appending(path: "tokenizer_config.json"))
  var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  config["chat_template"] =
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    + "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
  try JSONSerialization.data(withJSONObject: config).write(to: folder.appending(path: "tokenizer_config.json"))
  return folder
}

@Suite("Text prompts and bnb-chat")
struct TextPromptTests {
  @Test func textPromptEncodesGeneratesAndDecodesAsTheLibrary() async throws {
    let folder = try tinyLlamaWithTokenizer()
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = await Commands.generate([
      "--model", folder.path, "--prompt", "The quick brown fox", "--max-new-tokens", "12", "--json",
    ])
    #expect(result.status == 0, "\(result.error)")
    let tokenizer = try Tokenizer.load(directory: folder)
    let prompt = tokenizer.encode("The quick brown fox")
    #expect(result.report["prompt_ids"] as? [Int] == prompt)
    let model = try LanguageModel.load(directory: folder)
    let expected = try libraryGreedy(model, prompt: prompt, count: 12)
    #expect(result.generatedIDs == expected)
    #expect(result.report["text"] as? String == tokenizer.decode(expected, skipSpecialTokens: true))
  }

  @Test func streamedTextEqualsTheJSONText() async throws {
    let folder = try tinyLlamaWithTokenizer()
    defer { try? FileManager.default.removeItem(at: folder) }
    let arguments = ["--model", folder.path, "--prompt", "hello", "--max-new-tokens", "10", "--chat"]
    let streamed = await Commands.generate(arguments)
    let json = await Commands.generate(arguments + ["--json"])
    #expect(streamed.status == 0, "\(streamed.error)")
    let text = try #require(json.report["text"] as? String)
    #expect(streamed.output == text + (text.isEmpty ? "" : "\n"))
  }

  @Test func chatRunsTurnsAndCommands() async throws {
    let folder = try tinyLlamaWithTokenizer()
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = await Commands.chat(
      ["--model", folder.path, "--max-new-tokens", "5", "--system", "You are terse."],
      lines: ["hi there", "and again", "/stats", "/reset", "/system be kind", "/bogus", "new start"])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("(conversation cleared)"))
    #expect(result.output.contains("conversation: 4 messages"))
    #expect(result.output.contains("unknown command /bogus"))
    #expect(result.error.contains("loaded 2 layers"))
  }

  @Test func chatWithoutTokenizerIsInvalidInput() async throws {
    let folder = try Commands.tinyLlamaWithoutTokenizer()
    defer { try? FileManager.default.removeItem(at: folder) }
    let result = await Commands.chat(["--model", folder.path], lines: [])
    #expect(result.status == GenerateExitStatus.invalidInput.rawValue)
    #expect(result.error.contains("tokenizer.json"))
  }
}
