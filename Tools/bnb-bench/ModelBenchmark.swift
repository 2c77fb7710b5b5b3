import ArgumentParser
import BitsAndBytes
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `bnb-bench model`: whole-model quantization against the disk, in one run.
///
/// Synthesises a Llama-shaped float16 checkpoint in a temporary folder, then measures: the time to read
/// it (page-cache warm, one thread, 8 MiB `pread`s), `bnb-patch` for each format (a child process; its
/// wall time and peak resident set), and the time to write and `fsync` a file of each output's size.
/// The ratio is `bnb-patch` time over read + write time.
struct ModelBenchmark: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "model",
    abstract: "Time bnb-patch on a synthetic Llama-shaped fp16 checkpoint against reading it and writing its output.",
    discussion: """
      Build both tools in release mode first: swift build -c release --product bnb-patch --product bnb-bench
      Example: nice .build/release/bnb-bench model --gigabytes 1 --patch-formats nf4-dq,int8
      """)

  @Option(help: "Approximate size of the synthetic checkpoint in GB (decides the number of layers).")
  var gigabytes = 1.0

  @Option(help: "Hidden size.")
  var hidden = 2048

  @Option(help: "MLP intermediate size.")
  var intermediate = 5632

  @Option(help: "Rows of the k and v projections (grouped-query attention).")
  var keyValue = 256

  @Option(help: "Vocabulary size (embedding and lm_head rows; 0 for none).")
  var vocabulary = 32000

  @Option(help: "Layers (0 = as many as --gigabytes allows, at least 1).")
  var layers = 0

  // Names differ from the kernel benchmark's options (--formats, --threads, --json), which its parser
  // would otherwise take.
  @Option(help: "Comma-separated formats: nf4-dq, nf4, fp4, int8, fp8, blockwise8, fp8-tensor, int8-outliers.")
  var patchFormats = "nf4-dq,fp4,int8,fp8,blockwise8"

  @Option(help: "The bnb-patch executable (default: the one next to this program).")
  var patch: String?

  @Option(help: "Another bnb-patch (e.g. an earlier build) to time on the same jobs in the same run, for before/after figures.")
  var baselinePatch: String?

  @Option(help: "Tensors in flight for bnb-patch (0 = one per core).")
  var patchThreads = 0

  @Option(help: "Where the temporary folder goes (default: the system's temporary folder).")
  var folder: String?

  @Flag(help: "Keep the temporary folder (the synthetic model and its job files) for profiling.")
  var keep = false

  @Flag(help: "Print JSON instead of a table.")
  var reportJSON = false

  func run() throws {
    let patchTool = patch ?? URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: "bnb-patch").path
    guard FileManager.default.isExecutableFile(atPath: patchTool) else {
      throw ValidationError("no bnb-patch at \(patchTool); build it (swift build -c release --product bnb-patch) or pass --patch")
    }
    let jobs = try list(patchFormats).map { name throws(ValidationError) -> ModelBenchFormat in
      guard let format = ModelBenchFormat(rawValue: name) else {
        throw ValidationError("unknown format '\(name)'; choose from \(ModelBenchFormat.allCases.map(\.rawValue))")
      }
      return format
    }
    let base = URL(filePath: folder ?? NSTemporaryDirectory()).appending(path: "bnb-bench-model-\(getpid())")
    try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    defer { if !keep { try? FileManager.default.removeItem(at: base) } }
    let shape = LlamaShape(
      hidden: hidden, intermediate: intermediate, keyValue: keyValue, vocabulary: vocabulary, layers: layers,
      gigabytes: gigabytes)
    let model = base.appending(path: "model")
    let inputBytes = try shape.write(to: model)
    let weights = model.appending(path: "model.safetensors")
    _ = try DiskProbe.readSeconds(weights)  // warm the page cache
    var report = ModelBenchReport(
      inputBytes: inputBytes, layers: shape.layerCount, tensors: shape.tensorCount, loadAverage: loadAverage(),
      processors: activeProcessors(), readSeconds: try DiskProbe.readSeconds(weights))
    let tools = [("bnb-patch", patchTool)] + (baselinePatch.map { [("baseline", $0)] } ?? [])
    for format in jobs {
      let output = base.appending(path: "out-\(format.rawValue)")
      let job = base.appending(path: "\(format.rawValue).yaml")
      try Data(format.jobYAML(model: model, output: output, threads: patchThreads).utf8).write(to: job)
      for (tool, path) in tools {
        let run = try ChildProcess.run(path, ["--config", job.path, "--quiet"])
        guard run.status == 0 else { throw ValidationError("\(path) failed (exit \(run.status)) for \(format.rawValue)") }
        let outputBytes = try DiskProbe.size(of: output)
        if !keep || tool != "bnb-patch" { try? FileManager.default.removeItem(at: output) }
        let writeSeconds = try DiskProbe.writeSeconds(bytes: outputBytes, at: base.appending(path: "write-probe"))
        report.results.append(
          ModelBenchResult(
            format: format.rawValue, tool: tool, seconds: run.seconds, outputBytes: outputBytes, writeSeconds: writeSeconds,
            peakResidentBytes: run.peakResidentBytes, inputBytes: inputBytes, readSeconds: report.readSeconds))
      }
    }
    if reportJSON {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
      print(report.table())
    }
  }

  private func list(_ text: String) throws(ValidationError) -> [String] {
    let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !items.isEmpty else { throw ValidationError("empty list '\(text)'") }
    return items
  }
}

/// The formats of `bnb-bench model`, as `bnb-patch` jobs.
enum ModelBenchFormat: String, CaseIterable {
  case nf4DoubleQuant = "nf4-dq"
  case nf4
  case fp4
  case int8
  case fp8
  /// fp8 with one scale for the whole tensor (chunked with the column extremes).
  case fp8Tensor = "fp8-tensor"
  /// LLM.int8 with a weight threshold the synthetic values cross (outlier columns; chunked with the
  /// column extremes).
  case int8Outliers = "int8-outliers"
  case blockwise8

  /// A job file quantizing `model` into `output`.
  func jobYAML(model: URL, output: URL, threads: Int) -> String {
    let format: String
    switch self {
    case .nf4DoubleQuant: format = "format: nf4\nparameters:\n  double_quant: true"
    case .nf4: format = "format: nf4"
    case .fp4: format = "format: fp4"
    case .int8: format = "format: int8"
    case .fp8: format = "format: fp8_e4m3"
    case .fp8Tensor: format = "format: fp8_e4m3\nparameters:\n  scale: tensor"
    case .int8Outliers: format = "format: int8\nparameters:\n  weight_threshold: 1.99"
    case .blockwise8: format = "format: blockwise8"
    }
    return "model: \(model.path)\noutput: \(output.path)\noverwrite: true\nthreads: \(threads)\n\(format)\n"
  }
}
