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

  @OptionGroup var writeOptions: WriteOptions

  @OptionGroup var registryOptions: RegistryOptions

  mutating func run() async throws {
    var target: DType?
    if let dtype {
      guard let parsed = DType(torchName: dtype), [.float16, .bfloat16, .float32].contains(parsed) else {
        throw ValidationError("--dtype must be float16, bfloat16 or float32, found '\(dtype)'")
      }
      target = parsed
    }
    let patcher = CheckpointPatcher(registry: try registryOptions.make())
    let summary = try await patcher.dequantizeCheckpoint(
      at: URL(filePath: path).standardizedFileURL, to: URL(filePath: output).standardizedFileURL, dtype: target,
      overwrite: writeOptions.force, threads: writeOptions.threads ?? 0, events: writeOptions.reporter.handler)
    writeOptions.print(summary, verb: "dequantized")
  }
}
