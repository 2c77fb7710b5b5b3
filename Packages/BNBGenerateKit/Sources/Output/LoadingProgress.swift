import BNBPatchKit
import QuantCore

/// The loading progress bar of `bnb-chat` on standard error: one redrawn line on a terminal, a line at
/// the end otherwise.
final class LoadingProgress: Sendable {
  private let console: Console

  init(console: Console) {
    self.console = console
  }

  /// Reports `built` of `total` layers.
  func report(_ built: Int, _ total: Int) {
    let width = 24
    let filled = total > 0 ? built * width / total : width
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    if console.errorIsTerminal {
      console.writeError("\rloading [\(bar)] \(built)/\(total) layers" + (built == total ? "\n" : ""))
    } else if built == total {
      console.writeError("loaded \(total) layers\n")
    }
  }
}
