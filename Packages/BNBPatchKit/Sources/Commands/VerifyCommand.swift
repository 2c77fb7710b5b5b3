import ArgumentParser
import Foundation
import ModelPatcher
import QuantCore

/// `bnb-patch verify QUANTIZED --against ORIGINAL`: per-layer error, non-zero exit beyond thresholds.
struct VerifyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify", abstract: "Per-layer error of a quantized checkpoint against the original weights.")

  @Argument(help: "The quantized model folder or .safetensors file.")
  var quantized: String

  @Option(name: .long, help: "The original (unquantized) model folder or .safetensors file.")
  var against: String

  @Option(name: .long, help: "Fail when a layer's RMS error exceeds this.")
  var maxRms: Double?

  @Option(name: .long, help: "Fail when a layer's SNR (dB) is below this.")
  var minSnr: Double?

  @Option(name: .long, help: "Fail when a layer's cosine similarity is below this.")
  var minCosine: Double?

  @Option(name: .long, help: "Fail when a layer's largest absolute error exceeds this.")
  var maxAbs: Double?

  @Flag(name: .long, help: "Print JSON instead of a table.")
  var json = false

  @OptionGroup var registryOptions: RegistryOptions

  mutating func run() async throws {
    let patcher = CheckpointPatcher(registry: try registryOptions.make())
    let thresholds = VerificationReport.Thresholds(
      maximumRMSError: maxRms, minimumSNR: minSnr, minimumCosine: minCosine, maximumAbsoluteError: maxAbs)
    let report = try patcher.verify(
      quantized: URL(filePath: quantized).standardizedFileURL, against: URL(filePath: against).standardizedFileURL,
      thresholds: thresholds)
    let console = BNBPatch.context.console
    if json {
      console.write(TextFormatting.json(report))
    } else {
      let rows = report.layers.map { layer in
        [
          TextFormatting.terminalSafe(layer.name), layer.format, TextFormatting.scientific(layer.maxAbsoluteError),
          TextFormatting.scientific(layer.rmsError),
          TextFormatting.decimal(layer.snrDecibels), TextFormatting.decimal(layer.cosine, 6), layer.passed ? "ok" : "FAIL",
        ]
      }
      console.write(
        TextFormatting.table(["layer", "format", "max abs", "rms", "snr dB", "cosine", ""], rows, rightAligned: [2, 3, 4, 5]))
      console.write(
        "\(report.layers.count) quantized layers, \(report.layers.filter { !$0.passed }.count) beyond thresholds; "
          + "\(report.identicalPlainTensors) plain tensors identical, \(report.changedPlainTensors.count) changed, "
          + "\(report.missingTensors.count) missing\n")
    }
    if !report.passed {
      let failed = report.layers.filter { !$0.passed }.map(\.name) + report.changedPlainTensors + report.missingTensors
      throw CommandFailure(
        status: .verificationFailed,
        message: "verification failed for \(failed.count) tensor\(failed.count == 1 ? "" : "s"): "
          + failed.prefix(5).map { TextFormatting.terminalSafe($0) }.joined(separator: ", ") + (failed.count > 5 ? ", …" : ""))
    }
  }
}
