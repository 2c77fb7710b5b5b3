import Foundation
import ModelPatcher
import QuantCore

/// Shows model-patcher progress on standard error: one redrawn line on a terminal, plain lines
/// otherwise, nothing with `--quiet`. Warnings always go through.
final class ProgressReporter: Sendable {
  private let console: Console
  private let quiet: Bool
  private let lastLineLength = Locked(0)

  init(console: Console, quiet: Bool) {
    self.console = console
    self.quiet = quiet
  }

  /// The event handler to pass to the model patcher.
  var handler: PatchEventHandler {
    { [self] event in self.report(event) }
  }

  func report(_ event: PatchEvent) {
    switch event {
    case .started(let tensors, let bytes):
      guard !quiet else { return }
      console.writeError("processing \(tensors) tensors (\(TextFormatting.bytes(bytes)))\n")
    case .warning(let message):
      clearLine()
      console.writeError("warning: \(TextFormatting.terminalSafe(message, keepingNewlines: true))\n")
    case .progress(let progress):
      guard !quiet else { return }
      let rate = progress.elapsed > 0 ? Double(progress.completedBytes) / progress.elapsed : 0
      let width = String(progress.totalTensors).count
      let count =
        String(repeating: " ", count: max(0, width - String(progress.completedTensors).count)) + "\(progress.completedTensors)"
      let text =
        "[\(count)/\(progress.totalTensors)] \(TextFormatting.bytes(progress.completedBytes)) / \(TextFormatting.bytes(progress.totalBytes))"
        + " \(TextFormatting.bytes(Int(rate)))/s  \(TextFormatting.terminalSafe(progress.tensorName)) → \(progress.action)"
      if console.errorIsTerminal {
        let fraction = progress.totalBytes > 0 ? Double(progress.completedBytes) / Double(progress.totalBytes) : 1
        let filled = Int((fraction * 24).rounded(.down))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: 24 - filled) + "] "
        let text = bar + text
        let padding = lastLineLength.withLock { last in
          defer { last = text.count }
          return String(repeating: " ", count: max(0, last - text.count))
        }
        console.writeError("\r" + text + padding + (progress.completedTensors == progress.totalTensors ? "\n" : ""))
        if progress.completedTensors == progress.totalTensors { lastLineLength.withLock { $0 = 0 } }
      } else {
        console.writeError(text + "\n")
      }
    }
  }

  private func clearLine() {
    guard console.errorIsTerminal else { return }
    let length = lastLineLength.withLock { last in
      defer { last = 0 }
      return last
    }
    if length > 0 { console.writeError("\r" + String(repeating: " ", count: length) + "\r") }
  }
}
