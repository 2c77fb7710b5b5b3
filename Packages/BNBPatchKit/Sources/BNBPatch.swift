import ArgumentParser
import BitsAndBytes
import Foundation
import ModelPatcher
public import QuantCore

/// The `bnb-patch` command line as a library, so a package can ship its own `bnb-patch` with extra
/// format or backend plugins:
///
/// ```swift
/// // Sources/my-bnb-patch/main.swift
/// import BNBPatchKit
/// import MyFormats
/// await BNBPatch.main(plugins: [MyFormatsPlugin()])
/// ```
public enum BNBPatch {
  /// What a command runs with: the extra plugins and where output goes.
  struct Context: Sendable {
    var plugins: [any QuantPlugin]
    var console: Console
  }

  @TaskLocal static var context = Context(plugins: [], console: .standard)

  /// Runs `bnb-patch` with the process's arguments and exits with its status.
  ///
  /// Ctrl-C (or SIGTERM) stops every command with status 130 and leaves nothing behind: while an output
  /// is staged, the running job is cancelled (it removes what it staged); when nothing is staged
  /// (`verify`, `inspect`, planning, reading YAML) or at a second signal, the process removes whatever
  /// is staged and exits at once.
  ///
  /// - Parameter plugins: Plugins installed after the built-in ones (their formats become available
  ///   to job files, rules and `--format`).
  public static func main(plugins: [any QuantPlugin]) async -> Never {
    let arguments = Array(CommandLine.arguments.dropFirst())
    let task = Task { await run(arguments: arguments, plugins: plugins, console: .standard) }
    let signals = Locked(0)
    let sources = Platform.onInterrupt {
      task.cancel()
      let count = signals.withLock { (count: inout Int) -> Int in
        count += 1
        return count
      }
      guard count > 1 || !InterruptCleanup.hasLiveOutputs else { return }
      InterruptCleanup.closeAndRemoveAll()
      Console.standard.writeError("error: \(ModelPatcherError.cancelled)\n")
      Platform.exitImmediately(ExitStatus.cancelled.rawValue)
    }
    let status = await task.value
    for source in sources { source.cancel() }
    Platform.exitProcess(status)
  }

  /// Runs `bnb-patch` in-process and returns its exit status (what the tests call).
  ///
  /// - Parameters:
  ///   - arguments: The arguments, without the program name.
  ///   - plugins: Extra plugins.
  ///   - console: Where output goes.
  /// - Returns: The exit status (see ``ExitStatus``).
  public static func run(arguments: [String], plugins: [any QuantPlugin] = [], console: Console) async -> Int32 {
    await $context.withValue(Context(plugins: plugins, console: console)) {
      do {
        var command = try RootCommand.parseAsRoot(arguments)
        if var asyncCommand = command as? AsyncParsableCommand {
          try await asyncCommand.run()
        } else {
          try command.run()
        }
        return ExitStatus.success.rawValue
      } catch let error as ModelPatcherError {
        console.writeError("error: \(TextFormatting.terminalSafe(error.description, keepingNewlines: true))\n")
        return ExitStatus(error).rawValue
      } catch let error as CommandFailure {
        console.writeError("error: \(TextFormatting.terminalSafe(error.message, keepingNewlines: true))\n")
        return error.status.rawValue
      } catch {
        let code = RootCommand.exitCode(for: error)
        let message = RootCommand.fullMessage(for: error)
        if code == .success {
          console.write(message.isEmpty ? "" : message + "\n")
          return ExitStatus.success.rawValue
        }
        console.writeError(message + "\n")
        return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
      }
    }
  }

  /// The registry for a command: built-ins, extra plugins, bundled YAML, then user files.
  static func registry(files: [String], inline: RegistryConfiguration? = nil) throws(ModelPatcherError) -> QuantRegistry {
    try StandardRegistry.make(
      extraPlugins: context.plugins, configurations: files.map { URL(filePath: $0) }, inline: inline)
  }
}

/// A failure with its own exit status (not a model patcher error).
struct CommandFailure: Error {
  var status: ExitStatus
  var message: String
}
