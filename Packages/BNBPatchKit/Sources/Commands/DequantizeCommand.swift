import ArgumentParser
import Foundation
import ModelPatcher
import QuantCore

/// `bnb-patch dequantize PATH -o OUT`: back to floating-point safetensors.
struct DequantizeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dequantize",
    abstract: "Decode a quantized checkpoint back to float16, bfloat16 or float32 safetensors (bit-identical to bitsandbytes).")

  @Argument(help: "A quantized model folder or .safetensors file.")
  var path: String

  @Option(name: .shortAndLong, help: "Output folder, or a .safetensors file.")
  var output: String

  @Option(name: .long, help: "float16, bfloat16 or float32 for every float tensor (default: each weight's original dtype).")
  var dtype: String?

  @Option(name: .long, help: "Tensors processed at once (0 = one per core).")
  var threads = 0

  @Flag(name: .long, help: "Replace an existing output.")
  var force = false

  @Flag(name: .shortAndLong, help: "No progress and no summary.")
  var quiet = false

  @Flag(name: .long, help: "Print the summary as JSON on standard output.")
  var json = false

  @Option(name: .long, help: "A registry YAML applied over the bundled one (repeatable).")
  var registry: [String] = []

  mutating func run() async throws {
    var target: DType?
    if let dtype {
      guard let parsed = DType(torchName: dtype), [.float16, .bfloat16, .float32].contains(parsed) else {
        throw ValidationError("--dtype must be float16, bfloat16 or float32, found '\(dtype)'")
      }
      target = parsed
    }
    let console = BNBPatch.context.console
    let patcher = ModelPatcher(registry: try BNBPatch.registry(files: registry))
    let reporter = ProgressReporter(console: console, quiet: quiet || json)
    let summary = try await patcher.dequantizeCheckpoint(
      at: URL(filePath: path).standardizedFileURL, to: URL(filePath: output).standardizedFileURL, dtype: target,
      overwrite: force, threads: threads, events: reporter.handler)
    SummaryText.print(summary, verb: "dequantized", json: json, quiet: quiet, to: console)
  }
}
