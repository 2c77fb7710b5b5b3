import ArgumentParser
import ChatTemplates
import Foundation
import Tokenizers

/// `bnb-tokenizer render`: a conversation through a model's chat template, as transformers'
/// `apply_chat_template(..., tokenize=False)` renders it.
struct Render: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the prompt a model's chat template makes of a conversation (exactly, with no newline added).",
    discussion: """
      A template's raise_exception exits with status 1 and its message on stderr; a malformed template or \
      conversation file with 66; an unreadable file with 74.
      """
  )

  @Option(name: .long, help: "The model folder (tokenizer_config.json, chat_template.jinja).")
  var model: String

  @Option(name: .long, help: "A JSON file: a list of messages, or an object with messages, tools, documents.")
  var messages: String

  @Flag(name: .long, help: "End with the header of an assistant turn.")
  var addGenerationPrompt = false

  @Option(name: .long, help: "Use this Jinja file instead of the model's template.")
  var template: String?

  @Option(name: .long, help: "Use the model's template with this name (default: tool_use with tools, else default).")
  var templateName: String?

  @Option(name: .long, help: "A JSON object of extra template variables, e.g. '{\"enable_thinking\": false}'.")
  var kwargs: String?

  @Option(name: .long, help: "The local time strftime_now reads, as 2024-07-26T12:00:00 (default: now).")
  var now: String?

  func run() throws {
    let clock = try now.map { text throws(CommandFailure) in
      guard let date = ChatTemplate.localDate(from: text) else {
        throw CommandFailure(status: .usage, message: "--now \(text): expected YYYY-MM-DDTHH:MM:SS")
      }
      return date
    }
    let directory = URL(filePath: model)
    let request = try Self.failing { try ChatRequest(json: try Self.read(messages), source: messages) }
    let source: String
    if let template {
      source = try Self.read(template)
    } else {
      source = try Self.failing {
        try ChatTemplateSet(modelDirectory: directory).select(name: templateName, hasTools: request.tools != nil)
      }
    }
    var context = request.variables
    let configuration: TokenizerConfiguration
    do {
      configuration = try TokenizerConfiguration.load(directory: directory)
    } catch {
      throw CommandFailure(status: .invalidInput, message: error.description)
    }
    let tokens = [
      ("bos_token", configuration.bosToken), ("eos_token", configuration.eosToken),
      ("unk_token", configuration.unkToken), ("pad_token", configuration.padToken),
    ]
    for (name, value) in tokens { if let value { context[name] = .string(value) } }
    if let kwargs {
      guard case .dictionary(let extra) = try? JinjaValue(json: kwargs) else {
        throw CommandFailure(status: .usage, message: "--kwargs must be a JSON object")
      }
      for pair in extra.pairs { context[pair.key] = pair.value }
    }
    let text = try Self.failing {
      try ChatTemplate(source: source).render(
        orderedMessages: request.messages, addGenerationPrompt: addGenerationPrompt, context: context, now: clock)
    }
    BNBTokenizer.console.write(text)
  }

  /// Runs `body`, turning a template error into a command failure: status 1 for `raise_exception`, else 66.
  private static func failing<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let error as ChatTemplateError {
      if case .raised(let message) = error { throw CommandFailure(status: .failure, message: message) }
      throw CommandFailure(status: .invalidInput, message: error.description)
    }
  }

  private static func read(_ path: String) throws(CommandFailure) -> String {
    do {
      return String(decoding: try Data(contentsOf: URL(filePath: path)), as: UTF8.self)
    } catch {
      throw CommandFailure(status: .io, message: "\(path): cannot read: \(error.localizedDescription)")
    }
  }
}
