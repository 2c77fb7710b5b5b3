import BNBPatchKit

/// What a running command writes to and listens to (a task-local, so tests run commands in-process).
struct CommandContext: Sendable {
  /// Where output goes.
  var console: Console
  /// Set by Ctrl-C.
  var interrupt: InterruptFlag
  /// Lines typed by the user (`bnb-chat`); `nil` at the end of input.
  var readLine: @Sendable () -> String?

  @TaskLocal static var current = CommandContext(
    console: .standard, interrupt: InterruptFlag(), readLine: { Swift.readLine(strippingNewline: true) })
}
