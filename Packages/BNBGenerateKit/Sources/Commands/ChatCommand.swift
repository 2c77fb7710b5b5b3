import ArgumentParser
import BNBPatchKit
import Foundation
import LanguageModels
import TextGeneration

/// `bnb-chat`: an interactive conversation in the terminal.
struct ChatCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-chat",
    abstract: "Chat with a (quantized) language model in the terminal.",
    discussion: """
      Type a message and press return; the answer streams. Commands: /reset (forget the conversation), \
      /system TEXT (set the system message and start over), /stats (speed and memory), /quit. Ctrl-C stops \
      the current answer, Ctrl-D leaves.

      Exit statuses: as bnb-generate (0 ok, 64 usage, 65 configuration, 66 bad model or tokenizer, \
      74 I/O, 130 interrupted).
      """)

  @OptionGroup var modelOptions: ModelOptions

  @OptionGroup var samplingOptions: SamplingOptions

  @Option(name: .long, help: "The system message.")
  var system: String?

  mutating func run() async throws {
    let context = CommandContext.current
    let console = context.console
    let progress = LoadingProgress(console: console)
    let model = try modelOptions.load(progress: progress.report)
    guard let codec = try TextCodecLoader.load(directory: modelOptions.directory, required: true) else {
      throw GenerateFailure(status: .invalidInput, message: "\(modelOptions.model): no tokenizer")
    }
    let session = ChatSession(
      model: model, codec: codec,
      settings: try samplingOptions.sampler().settings,
      stopping: samplingOptions.stopping(for: model.configuration, extraEndOfSequence: codec.endOfSequenceIDs))
    if let system { session.setSystem(system) }
    console.writeError("ready: \(model.configuration.architecture.rawValue), \(model.memoryFootprint())\n")
    console.writeError("type a message; /reset, /system TEXT, /stats, /quit; Ctrl-C stops an answer\n")
    while true {
      console.write("> ")
      guard let line = context.readLine() else {
        console.write("\n")
        return
      }
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      switch ChatInput(trimmed) {
      case .empty: continue
      case .quit: return
      case .reset:
        session.reset()
        console.write("(conversation cleared)\n")
      case .system(let text):
        session.setSystem(text)
        console.write(text.isEmpty ? "(system message removed)\n" : "(system message set; conversation cleared)\n")
      case .stats: console.write(session.statistics)
      case .unknownCommand(let name):
        console.write("unknown command \(name); commands: /reset, /system TEXT, /stats, /quit\n")
      case .message(let text):
        context.interrupt.answering(true)
        defer { context.interrupt.answering(false) }
        do {
          let result = try await session.answer(
            text, isInterrupted: { context.interrupt.isSet }, onText: { console.write($0) })
          console.write(result.interrupted ? " [stopped]\n" : "\n")
        } catch {
          console.writeError("error: \(error.message)\n")
        }
      }
    }
  }
}

/// One line typed in `bnb-chat`.
enum ChatInput: Equatable {
  case empty
  case quit
  case reset
  case system(String)
  case stats
  case unknownCommand(String)
  case message(String)

  init(_ line: String) {
    guard !line.isEmpty else {
      self = .empty
      return
    }
    guard line.hasPrefix("/") else {
      self = .message(line)
      return
    }
    let name = line.prefix { $0 != " " }
    let argument = line.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
    switch name {
    case "/quit", "/exit": self = .quit
    case "/reset": self = .reset
    case "/system": self = .system(argument)
    case "/stats": self = .stats
    default: self = .unknownCommand(String(name))
    }
  }
}
