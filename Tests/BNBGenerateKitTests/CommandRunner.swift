import BNBPatchKit
import Foundation
import TestSupport

@testable import BNBGenerateKit

/// Runs `bnb-generate` / `bnb-chat` in-process and collects what they printed.
struct CommandOutput {
  var status: Int32
  var output: String
  var error: String

  /// The `--json` report.
  var report: [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? [:]
  }

  var generatedIDs: [Int] { report["generated_ids"] as? [Int] ?? [] }
}

enum Commands {
  static func generate(_ arguments: [String]) async -> CommandOutput {
    let console = Console.capturing()
    let status = await BNBGenerate.run(.generate, arguments: arguments, console: console)
    return CommandOutput(status: status, output: console.capturedOutput, error: console.capturedError)
  }

  static func chat(_ arguments: [String], lines: [String]) async -> CommandOutput {
    let console = Console.capturing()
    let queue = LineQueue(lines)
    let status = await BNBGenerate.run(.chat, arguments: arguments, console: console, input: { queue.next() })
    return CommandOutput(status: status, output: console.capturedOutput, error: console.capturedError)
  }

  static let tinyLlama = TestFiles.tinyLlama.path

  /// A scratch copy of the bundled model without its tokenizer files (weights, `config.json` and
  /// `generation_config.json` only), for the paths that print ids or must name the missing `tokenizer.json`.
  /// The caller removes the folder.
  static func tinyLlamaWithoutTokenizer() throws -> URL {
    let folder = try TestFiles.scratchFolder()
    for name in ["config.json", "generation_config.json", "model.safetensors"] {
      try FileManager.default.copyItem(
        at: TestFiles.tinyLlama.appending(path: name), to: folder.appending(path: name))
    }
    return folder
  }
}

/// Lines handed out one by one (the user's typing in `bnb-chat`).
final class LineQueue: @unchecked Sendable {
  private var lines: [String]
  private let lock = NSLock()
  init(_ lines: [String]) { self.lines = lines }
  func next() -> String? {
    lock.lock()
    defer { lock.unlock() }
    return lines.isEmpty ? nil : lines.removeFirst()
  }
}
