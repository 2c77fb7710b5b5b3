import ArgumentParser
import Foundation
import Tokenizers

/// `bnb-tokenizer`: encodes and decodes text with a model folder's `tokenizer.json`, for debugging and scripts.
@main
struct BNBTokenizer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-tokenizer",
    abstract: "Encode and decode text with a model folder's tokenizer.json, as transformers does.",
    discussion: """
      Exit status: 0 success, 64 bad command line, 66 unusable tokenizer files or input text, 74 unreadable file.
      """,
    subcommands: [Encode.self, Decode.self, Render.self, Benchmark.self]
  )

  /// Where output goes (a buffer in tests).
  @TaskLocal static var console = Console.standard

  static func main() {
    let status = run(arguments: Array(CommandLine.arguments.dropFirst()))
    Platform.exitProcess(status)
  }

  /// Runs the command line in-process and returns the exit status.
  static func run(arguments: [String]) -> Int32 {
    do {
      var command = try parseAsRoot(arguments)
      try command.run()
      return ExitStatus.success.rawValue
    } catch let failure as CommandFailure {
      console.writeError("error: \(failure.message)\n")
      return failure.status.rawValue
    } catch {
      let code = exitCode(for: error)
      let message = fullMessage(for: error)
      if code == .success {
        console.write(message.isEmpty ? "" : message + "\n")
        return ExitStatus.success.rawValue
      }
      console.writeError(message + "\n")
      return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
    }
  }

  /// Loads the tokenizer of a model folder, turning its errors into command failures.
  static func loadTokenizer(_ path: String) throws(CommandFailure) -> Tokenizer {
    do {
      return try Tokenizer.load(directory: URL(filePath: path))
    } catch .unreadable(let file, let reason) {
      throw CommandFailure(status: .io, message: TokenizerError.unreadable(file: file, reason: reason).description)
    } catch {
      throw CommandFailure(status: .invalidInput, message: error.description)
    }
  }

  /// A JSON object on one line, keys sorted.
  static func json(_ object: [String: Any]) throws(CommandFailure) -> String {
    do {
      let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
      return String(decoding: data, as: UTF8.self)
    } catch {
      throw CommandFailure(status: .failure, message: "cannot write JSON: \(error)")
    }
  }
}

/// The exit statuses (the same numbers as `bnb-patch`).
enum ExitStatus: Int32 {
  case success = 0
  case failure = 1
  case usage = 64
  case invalidInput = 66
  case io = 74
}

/// An error that ends the command with a status and a message on stderr.
struct CommandFailure: Error {
  var status: ExitStatus
  var message: String
}
