import ArgumentParser
import ChatTemplates
import Foundation
import Tokenizers

/// `bnb-tokenizer render`: a conversation through a model's chat template, as transformers'
/// `apply_chat_template(..., tokenize=False)` renders it.
struct RenderCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "render",
    abstract: "Print the prompt a model's chat template makes of a conversation (no added newline).")

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
    do {
      print(try render(), terminator: "")
    } catch let error as ChatTemplateError {
      throw RenderFailure(message: error.description)
    } catch let error as TokenizerError {
      throw RenderFailure(message: error.description)
    }
  }

  private func render() throws -> String {
    let directory = URL(filePath: model)
    let request = try ChatRequest(json: try Self.read(messages), source: messages)
    let source: String
    if let template {
      source = try Self.read(template)
    } else {
      source = try ChatTemplateSet(modelDirectory: directory).select(name: templateName, hasTools: request.tools != nil)
    }
    var context = request.variables
    let configuration = try TokenizerConfiguration.load(directory: directory)
    let tokens = [
      ("bos_token", configuration.bosToken), ("eos_token", configuration.eosToken),
      ("unk_token", configuration.unkToken), ("pad_token", configuration.padToken),
    ]
    for (name, value) in tokens { if let value { context[name] = .string(value) } }
    if let kwargs {
      guard case .dictionary(let extra) = try JinjaValue(json: kwargs) else {
        throw RenderFailure(message: "--kwargs must be a JSON object")
      }
      for pair in extra.pairs { context[pair.key] = pair.value }
    }
    let clock = try now.map { text in
      guard let date = Self.localDate(text) else {
        throw RenderFailure(message: "--now \(text): expected YYYY-MM-DDTHH:MM:SS")
      }
      return date
    }
    return try ChatTemplate(source: source).render(
      orderedMessages: request.messages, addGenerationPrompt: addGenerationPrompt, context: context, now: clock)
  }

  private static func read(_ path: String) throws -> String {
    do {
      return String(decoding: try Data(contentsOf: URL(filePath: path)), as: UTF8.self)
    } catch {
      throw RenderFailure(message: "\(path): cannot read: \(error.localizedDescription)")
    }
  }

  /// `YYYY-MM-DDTHH:MM:SS` in the local time zone, as Python's naive `datetime`.
  static func localDate(_ text: String) -> Date? {
    let parts = text.split(whereSeparator: { "-T:".contains($0) }).map { Int($0) }
    guard parts.count == 6, parts.allSatisfy({ $0 != nil }) else { return nil }
    let values = parts.compactMap { $0 }
    let components = DateComponents(
      timeZone: TimeZone.current, year: values[0], month: values[1], day: values[2], hour: values[3], minute: values[4],
      second: values[5])
    guard components.isValidDate(in: Calendar(identifier: .gregorian)) else { return nil }
    return Calendar(identifier: .gregorian).date(from: components)
  }
}

/// A render failure: its message goes to stderr and the exit status is non-zero.
struct RenderFailure: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}
