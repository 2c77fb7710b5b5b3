import ArgumentParser
public import BNBPatchKit
import Foundation

/// The `bnb-generate` and `bnb-chat` command lines as a library: the executables call ``main(_:)``,
/// the tests call ``run(_:arguments:console:input:)`` in-process.
public enum BNBGenerate {
  /// The two programs.
  public enum Program: Sendable {
    /// `bnb-generate`: one prompt, one answer.
    case generate
    /// `bnb-chat`: an interactive conversation.
    case chat
    /// `bnb-lora`: LoRA training (`train`), evaluation (`eval`) and fusing (`fuse`).
    case lora
  }

  /// Runs a program with the process's arguments and exits with its status. Ctrl-C stops the current
  /// answer (in `bnb-chat`, not the program; `bnb-generate` ends with status 130 when nothing is generating).
  ///
  /// - Parameter program: Which program.
  public static func main(_ program: Program) async -> Never {
    let interrupt = InterruptFlag()
    // Ctrl-C during an answer stops it; otherwise bnb-generate ends (status 130) and bnb-chat keeps waiting
    // for input (Ctrl-D or /quit leave).
    let sources = Interrupts.route {
      if !interrupt.set(), program == .generate { exit(GenerateExitStatus.cancelled.rawValue) }
    }
    let status = await run(
      program, arguments: Array(CommandLine.arguments.dropFirst()), console: .standard, interrupt: interrupt,
      input: { Swift.readLine(strippingNewline: true) })
    for source in sources { source.cancel() }
    exit(status)
  }

  /// Runs a program in-process and returns its exit status (see ``GenerateExitStatus``).
  ///
  /// - Parameters:
  ///   - program: Which program.
  ///   - arguments: The arguments, without the program name.
  ///   - console: Where output goes.
  ///   - input: The user's lines for `bnb-chat` (`nil` ends the conversation).
  /// - Returns: The exit status.
  public static func run(
    _ program: Program, arguments: [String], console: Console,
    input: @escaping @Sendable () -> String? = { nil }
  ) async -> Int32 {
    await run(program, arguments: arguments, console: console, interrupt: InterruptFlag(), input: input)
  }

  static func run(
    _ program: Program, arguments: [String], console: Console, interrupt: InterruptFlag,
    input: @escaping @Sendable () -> String?
  ) async -> Int32 {
    let context = CommandContext(console: console, interrupt: interrupt, readLine: input)
    return await CommandContext.$current.withValue(context) {
      switch program {
      case .generate: await execute(GenerateCommand.self, arguments: arguments, console: console)
      case .chat: await execute(ChatCommand.self, arguments: arguments, console: console)
      case .lora: await execute(LoRACommand.self, arguments: arguments, console: console)
      }
    }
  }

  private static func execute<Command: AsyncParsableCommand>(
    _ type: Command.Type, arguments: [String], console: Console
  ) async -> Int32 {
    do {
      // As the root: a program with subcommands (bnb-lora) runs the one named.
      var command = try type.parseAsRoot(arguments)
      if var asynchronous = command as? any AsyncParsableCommand {
        try await asynchronous.run()
      } else {
        try command.run()
      }
      return GenerateExitStatus.success.rawValue
    } catch let failure as GenerateFailure {
      console.writeError("error: \(failure.message)\n")
      return failure.status.rawValue
    } catch {
      let code = type.exitCode(for: error)
      let message = type.fullMessage(for: error)
      if code == .success {
        console.write(message.isEmpty ? "" : message + "\n")
        return GenerateExitStatus.success.rawValue
      }
      console.writeError(message + "\n")
      return code == .validationFailure ? GenerateExitStatus.usage.rawValue : code.rawValue
    }
  }
}
