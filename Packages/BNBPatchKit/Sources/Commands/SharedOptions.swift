import ArgumentParser
import BitsAndBytes
import Foundation
import ModelPatcher
import QuantCore

/// `--registry FILE`, which every command takes.
struct RegistryOptions: ParsableArguments {
  @Option(name: .long, help: "A registry YAML applied over the bundled one (repeatable).")
  var registry: [String] = []

  /// The standard registry with this program's plugins, the bundled YAML, these files, then `inline`.
  ///
  /// - Parameter inline: A job's own `registry:` section, applied last.
  func make(inline: RegistryConfiguration? = nil) throws(ModelPatcherError) -> QuantRegistry {
    try BNBPatch.registry(files: registry, inline: inline)
  }
}

/// The options of the commands that write a checkpoint (`quantize`, `dequantize`).
struct WriteOptions: ParsableArguments {
  @Option(name: .long, help: "Tensors processed at once (0 = one per core).")
  var threads: Int?

  @Flag(name: .long, help: "Replace an existing output.")
  var force = false

  @Flag(name: .shortAndLong, help: "No progress and no summary.")
  var quiet = false

  @Flag(name: .long, help: "Print the summary as JSON on standard output.")
  var json = false

  func validate() throws {
    if let threads, threads < 0 { throw ValidationError("--threads must be 0 (one per core) or positive") }
  }

  /// Prints the summary as these options say.
  func print(_ summary: PatchSummary, verb: String) {
    SummaryText.print(summary, verb: verb, json: json, quiet: quiet, to: BNBPatch.context.console)
  }

  /// Progress output, silent with `--quiet` or `--json`.
  var reporter: ProgressReporter { ProgressReporter(console: BNBPatch.context.console, quiet: quiet || json) }
}
