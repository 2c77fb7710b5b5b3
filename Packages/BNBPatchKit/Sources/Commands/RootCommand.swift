import ArgumentParser
import Foundation
import ModelPatcher
import QuantCore

/// `bnb-patch`: the root command. With no subcommand name, `quantize` runs, so
/// `bnb-patch --config quant.yaml` quantizes.
struct RootCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-patch",
    abstract: "Quantize Hugging Face models into bitsandbytes checkpoints that transformers loads as they are.",
    usage: """
      bnb-patch --config <job.yaml> [--format <name>] [-o <output>] [options]   (quantize, the default)
        bnb-patch <subcommand> [options]
      """,
    discussion: """
      bnb-patch --config quant.yaml runs a job (Docs/quant-yaml.md); flags override the file.

      Exit statuses: 0 ok, 2 verification failed, 64 usage, 65 bad configuration, 66 bad input, \
      67 NaN/Inf weights refused, 73 output exists, 74 I/O failure, 130 interrupted.
      """,
    subcommands: [
      QuantizeCommand.self, InspectCommand.self, DequantizeCommand.self, VerifyCommand.self, FormatsCommand.self,
    ],
    defaultSubcommand: QuantizeCommand.self)
}

/// `bnb-patch [quantize] --config quant.yaml`: runs a quantization job.
struct QuantizeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quantize", abstract: "Run a quantization job (the default subcommand).")

  @Option(name: .long, help: "The job file (quant.yaml).")
  var config: String?

  @Option(name: .long, help: "Format for candidate tensors (a registry name or alias: nf4, fp4, int8, fp8_e4m3, …).")
  var format: String?

  @Option(name: .long, help: "Blocksize of the format (4-bit: 32…4096).")
  var blocksize: Int?

  @Flag(name: .long, inversion: .prefixedNo, help: "Double-quantize the absmax (4-bit formats).")
  var doubleQuant: Bool?

  @Option(name: .shortAndLong, help: "Output folder, or a .safetensors file.")
  var output: String?

  @Option(name: .long, help: "Largest output shard, e.g. 5GB or 500MB.")
  var maxShardSize: String?

  @Option(name: .long, help: "NaN or infinite weights: refuse (default) or warn.")
  var nonFinite: String?

  @Flag(name: .long, help: "Print the plan (what happens to each tensor) and write nothing.")
  var dryRun = false

  @OptionGroup var writeOptions: WriteOptions

  @OptionGroup var registryOptions: RegistryOptions

  mutating func run() async throws {
    guard let config else {
      throw ValidationError("missing --config FILE (a quant.yaml job); see Examples/quant.yaml, or run a subcommand")
    }
    var job = try QuantizationJob.load(config)
    if let format { job.format = format }
    if let blocksize { job.parameters["blocksize"] = .int(blocksize) }
    if let doubleQuant { job.parameters["double_quant"] = .bool(doubleQuant) }
    if let output { job.output = URL(filePath: output).standardizedFileURL }
    if let threads = writeOptions.threads { job.threads = threads }
    if let maxShardSize {
      guard let size = QuantizationJob.parseByteSize(maxShardSize), size > 0 else {
        throw ValidationError("--max-shard-size must be a size such as 5GB or 500MB, found '\(maxShardSize)'")
      }
      job.maximumShardSize = size
    }
    if let nonFinite {
      guard let policy = QuantizationJob.NonFinitePolicy(rawValue: nonFinite) else {
        throw ValidationError("--non-finite must be refuse or warn, found '\(nonFinite)'")
      }
      job.nonFinite = policy
    }
    if writeOptions.force { job.overwrite = true }
    let patcher = CheckpointPatcher(registry: try registryOptions.make(inline: job.registry))
    if dryRun {
      let (_, plan) = try patcher.plan(job)
      BNBPatch.context.console.write(PlanTable.render(plan))
      return
    }
    let summary = try await patcher.quantizeModel(job, events: writeOptions.reporter.handler)
    writeOptions.print(summary, verb: "quantized")
  }
}

extension QuantizationJob {
  /// Reads a job file, mapping failures to model patcher errors.
  static func load(_ path: String) throws(ModelPatcherError) -> QuantizationJob {
    do {
      return try QuantizationJob(contentsOf: URL(filePath: path).standardizedFileURL)
    } catch {
      throw .configuration(error)
    }
  }
}

/// The summary printed after a job.
enum SummaryText {
  /// Prints the summary as JSON (`json`), as text, or not at all (`quiet`).
  static func print(_ summary: PatchSummary, verb: String, json: Bool, quiet: Bool, to console: Console) {
    if json {
      console.write(TextFormatting.json(summary))
    } else if !quiet {
      console.write(render(summary, verb: verb))
    }
  }

  static func render(_ summary: PatchSummary, verb: String) -> String {
    let formats = summary.formats.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    var text = "\(summary.output)\n"
    text +=
      "  \(verb) \(summary.quantizedTensors) tensors\(formats.isEmpty ? "" : " (\(formats))"), kept \(summary.keptTensors)\n"
    text += "  size \(TextFormatting.bytes(summary.inputBytes)) → \(TextFormatting.bytes(summary.outputBytes))"
    text += ", \(TextFormatting.decimal(summary.bitsPerParameter)) bits/param overall"
    if summary.quantizedParameters > 0 {
      text += ", \(TextFormatting.decimal(summary.quantizedBitsPerParameter)) in quantized tensors"
    }
    text += "\n  \(TextFormatting.decimal(summary.seconds)) s, files: \(summary.files.joined(separator: ", "))\n"
    for warning in summary.warnings { text += "  warning: \(TextFormatting.terminalSafe(warning, keepingNewlines: true))\n" }
    return text
  }
}

/// The `--dry-run` table.
enum PlanTable {
  static func render(_ plan: QuantizationPlan) -> String {
    let rows = plan.items.map { item -> [String] in
      let action: String
      switch item.action {
      case .quantize(let format, let parameters):
        let details = parameters.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        action = "\(format) \(details)"
      case .keep(let reason): action = "keep (\(reason))"
      }
      return [TextFormatting.terminalSafe(item.name), item.dtype.rawValue, "\(item.shape)", action]
    }
    return TextFormatting.table(["tensor", "dtype", "shape", "action"], rows, rightAligned: [])
  }
}
