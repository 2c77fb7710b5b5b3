import ArgumentParser
import BNBPatchKit
import Foundation
import LanguageModels

/// `bnb-generate`: one prompt in, the streamed continuation and the figures out.
struct GenerateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-generate",
    abstract: "Generate text with a (quantized) language model.",
    discussion: """
      The text streams to standard output; the figures (prefill and decode tokens/s, time to first token, \
      peak memory) follow on standard error. --json prints one JSON object instead.

      Exit statuses: 0 ok, 1 failure, 64 usage, 65 bad configuration or setting, 66 bad model, tokenizer \
      or prompt (or --adapter folder), 74 I/O failure, 130 interrupted.
      """)

  @OptionGroup var modelOptions: ModelOptions

  @Option(name: .long, help: "The prompt text.")
  var prompt: String?

  @Option(name: .customLong("prompt-ids"), help: "The prompt as token ids: 1,2,3.")
  var promptIDs: String?

  @Flag(name: .long, help: "Wrap the prompt in the model's chat template as one user message.")
  var chat = false

  @OptionGroup var samplingOptions: SamplingOptions

  @Flag(name: .long, help: "Print prompt and generated ids, the text and the figures as JSON.")
  var json = false

  @Option(name: .customLong("logits-out"), help: "Write the prompt's float32 logits [1, T, vocab] as tensor 'logits'.")
  var logitsOut: String?

  func validate() throws {
    if (prompt == nil) == (promptIDs == nil) { throw ValidationError("give exactly one of --prompt and --prompt-ids") }
    if chat && prompt == nil { throw ValidationError("--chat needs --prompt TEXT") }
    if let promptIDs { _ = try Self.parseIDs(promptIDs) }
  }

  static func parseIDs(_ text: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    let ids = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !parts.isEmpty, ids.count == parts.count else {
      throw ValidationError("--prompt-ids must be comma-separated integers such as 1,2,3, found '\(text)'")
    }
    return ids
  }

  mutating func run() async throws {
    let context = CommandContext.current
    let model = try modelOptions.load()
    let codec = try TextCodecLoader.load(directory: modelOptions.directory, required: promptIDs == nil)
    let ids: [Int]
    if let promptIDs {
      ids = try Self.parseIDs(promptIDs)
    } else if let codec, let prompt {
      ids = try codec.promptIDs(for: prompt, chat: chat)
    } else {
      throw GenerateFailure(status: .usage, message: "give --prompt or --prompt-ids")
    }
    var runner = GenerationRunner(
      model: model, cache: model.makeCache(), sampler: try samplingOptions.sampler(),
      stopping: samplingOptions.stopping(for: model.configuration, extraEndOfSequence: codec?.endOfSequenceIDs ?? []))
    runner.keepPromptLogits = logitsOut != nil
    let streams = !json
    context.interrupt.answering(true)
    defer { context.interrupt.answering(false) }
    let result = try await runner.run(
      prompt: ids, decoder: codec?.makeStreamingDecoder() ?? AnyStreamingDecoder(SilentDecoder()),
      isInterrupted: { context.interrupt.isSet }, onText: { if streams { context.console.write($0) } })
    if let logitsOut, let logits = result.promptLogits {
      try LogitsFile.write(
        logits, positions: ids.count, vocabulary: model.configuration.vocabularySize, to: URL(filePath: logitsOut))
    }
    if json {
      context.console.write(GenerationReport(result).jsonText)
    } else {
      if !result.text.isEmpty { context.console.write("\n") }
      if codec == nil, !result.generatedIDs.isEmpty {
        context.console.write(result.generatedIDs.map(String.init).joined(separator: ",") + "\n")
      }
      context.console.writeError(result.figures.summary + "\n")
    }
    if result.interrupted { throw GenerateFailure(status: .cancelled, message: "interrupted") }
  }
}
