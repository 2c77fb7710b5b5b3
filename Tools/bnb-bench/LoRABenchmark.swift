import ArgumentParser
import Foundation
import LanguageModels
import ModelPatcher
import QLoRA

/// `bnb-bench lora`: QLoRA training tokens/s on a synthetic Llama-3.2-1B- or Llama-2-7B-shaped NF4 model next to the
/// runtime's prefill tokens/s of the same model in the same process, and the peak resident set.
struct LoRABenchmark: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora",
    abstract: "QLoRA training tokens/s against prefill tokens/s on a synthetic NF4 Llama (1B or 7B shape), and peak memory.",
    discussion: """
      Writes a bfloat16 checkpoint of random weights with the real shapes of --shape to --folder (a
      temporary folder by default), then for each thread count runs a child process that loads it with NF4
      quantization at load, times a prefill of --sequence tokens (the runtime), then training steps of one
      --sequence-token sequence (forward with adapters on every linear layer, per-block recompute unless
      --keep-activations-mb keeps blocks, backward with no base-weight gradients, AdamW), in --steps rounds of one
      prefill then one step after a warm-up of each; reports the medians as tokens/s, the median of the rounds'
      ratios, and the child's peak RSS next to the model's weight bytes. Build with -c release.
      """)

  @Option(name: .customLong("lora-threads"), help: "Comma-separated thread counts.")
  var threads = "1,2"

  @Option(help: "The synthetic model: llama3.2-1b (tied embeddings) or llama2-7b (32 layers, separate lm_head).")
  var shape = "llama3.2-1b"

  @Option(help: "Decoder layers (default: the shape's, 16 or 32; fewer for a quick run).")
  var layers: Int?

  @Option(help: "Tokens per sequence.")
  var sequence = 256

  @Option(help: "LoRA rank.")
  var rank = 8

  @Option(
    name: .customLong("keep-activations-mb"),
    help: "Comma-separated megabytes of block activations kept instead of recomputed (each a separate child run).")
  var keepActivations = "0"

  @Option(
    name: .customLong("loss-chunk"),
    help:
      "Tokens per chunk of the chunked lm_head cross-entropy (default 60; a dense lm_head on the CPU, as here, runs in one pass over vocabulary tiles)."
  )
  var lossChunk = 60

  @Option(
    name: .customLong("saved-activations"),
    help: "How a step stores the activations its backward pass reads: float32 (the trainer's default) or bfloat16.")
  var savedActivations = SavedActivationPrecision.float32.rawValue

  @Option(help: "Timed rounds of one prefill and one training step (after an untimed one of each); medians are reported.")
  var steps = 3

  @Option(help: "Where to write the synthetic checkpoint (kept if given).")
  var folder: String?

  @Flag(name: .customLong("lora-json"), help: "Print JSON instead of a table.")
  var json = false

  @Option(help: .hidden)
  var childResult: String?

  func run() throws {
    let shapes = ["llama3.2-1b": SyntheticLlama.llama32OneB, "llama2-7b": SyntheticLlama.llama2SevenB]
    guard var shape = shapes[self.shape] else { throw ValidationError("--shape must be llama3.2-1b or llama2-7b") }
    shape.layers = layers ?? shape.layers
    let counts = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
    let budgets = keepActivations.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 0 }
    guard let precision = SavedActivationPrecision(rawValue: savedActivations) else {
      throw ValidationError("--saved-activations must be float32 or bfloat16")
    }
    guard !counts.isEmpty, !budgets.isEmpty, sequence >= 2, steps >= 1, rank >= 1 else {
      throw ValidationError(
        "--lora-threads needs positive integers, --keep-activations-mb integers ≥ 0; --sequence ≥ 2, --steps ≥ 1, --rank ≥ 1")
    }
    let directory =
      folder.map { URL(filePath: $0) }
      ?? FileManager.default.temporaryDirectory.appending(path: "bnb-bench-lora-\(UUID().uuidString)")
    if let childResult {
      let figure = try measure(directory, shape: shape, threads: counts[0], keepMB: budgets[0], precision: precision)
      try JSONEncoder().encode(figure).write(to: URL(filePath: childResult))
      return
    }
    defer { if folder == nil { try? FileManager.default.removeItem(at: directory) } }
    if !FileManager.default.fileExists(atPath: directory.appending(path: "model.safetensors").path) {
      try shape.write(to: directory, seed: 2026)
    } else {
      // A kept folder must hold this shape: a checkpoint of another size would be measured under this label.
      let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appending(path: "config.json")))
      let fields = config as? [String: Any]
      guard fields?["num_hidden_layers"] as? Int == shape.layers, fields?["hidden_size"] as? Int == shape.hidden,
        fields?["vocab_size"] as? Int == shape.vocabulary
      else {
        throw ValidationError("\(directory.path) holds another model than \(self.shape) with \(shape.layers) layers")
      }
    }
    var report = LoRABenchReport(
      shape: self.shape, layers: shape.layers, sequence: sequence, rank: rank, savedActivations: savedActivations,
      processors: activeProcessors(),
      loadAverage: loadAverage())
    let executable = URL(filePath: CommandLine.arguments[0]).path
    for count in counts {
      for budget in budgets {
        let resultFile = directory.appending(path: "lora-\(count)-\(budget).json")
        let child = try ChildProcess.run(
          executable,
          [
            "lora", "--folder", directory.path, "--lora-threads", String(count), "--shape", self.shape, "--layers",
            String(shape.layers),
            "--sequence", String(sequence), "--rank", String(rank), "--steps", String(steps), "--keep-activations-mb",
            String(budget), "--loss-chunk", String(lossChunk), "--saved-activations", savedActivations,
            "--child-result", resultFile.path,
          ])
        guard child.status == 0 else {
          throw ValidationError("the \(count)-thread, \(budget) MB measurement failed (\(child.status))")
        }
        var figure = try JSONDecoder().decode(LoRABenchFigure.self, from: Data(contentsOf: resultFile))
        figure.peakResidentBytes = child.peakResidentBytes
        report.results.append(figure)
      }
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
      print(report.table())
    }
  }

  /// One thread count, in this (child) process.
  private func measure(
    _ directory: URL, shape: SyntheticLlama, threads: Int, keepMB: Int, precision: SavedActivationPrecision
  ) throws -> LoRABenchFigure {
    var job = QuantizationJob(model: directory, output: directory.appending(path: "unused"))
    job.format = "nf4"
    let model = try LanguageModel.load(directory: directory, quantizationJob: job, threads: threads)
    let tokens = (0..<sequence).map { ($0 &* 7919 &+ 13) % shape.vocabulary }
    let clock = ContinuousClock()
    func seconds(_ duration: Duration) -> Double {
      Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
    func timePrefill() throws -> Double {
      let start = clock.now
      _ = try model.logits(for: tokens, cache: model.makeCache())
      return seconds(clock.now - start)
    }
    _ = try model.logits(for: Array(tokens.prefix(8)), cache: model.makeCache())
    _ = try timePrefill()
    // The model is built in a closure so that the trainer holds its only copy, as `bnb-lora train` does: a second
    // reference here would keep the initial adapter factors and gradient buffers alive (two more adapter-sized
    // copies) once the trainer's diverge.
    var trainer = try { () throws -> LoRATrainer in
      var trainable = try TrainableModel(model: model)
      try trainable.addAdapters(
        configuration: LoRAConfiguration(rank: rank, alpha: 2 * Float(rank)), targets: .allLinear, seed: 0)
      trainable.retainedActivationBytes = keepMB * 1_000_000
      trainable.lossChunkTokens = lossChunk
      trainable.savedActivationPrecision = precision
      return try LoRATrainer(
        model: trainable, examples: [TrainingExample(tokens: tokens)],
        settings: TrainingSettings(totalSteps: steps + 1, sequencesPerStep: 1))
    }()
    _ = try trainer.trainStep()
    // Rounds of one prefill then one step: each round's ratio compares the two under the same machine speed
    // (a shared host's speed drifts over minutes); the medians are reported.
    var prefill: [Double] = []
    var stepTimes: [Double] = []
    var ratios: [Double] = []
    for _ in 0..<steps {
      prefill.append(try timePrefill())
      let start = clock.now
      _ = try trainer.trainStep()
      stepTimes.append(seconds(clock.now - start))
      ratios.append(prefill[prefill.count - 1] / stepTimes[stepTimes.count - 1])
    }
    prefill.sort()
    stepTimes.sort()
    ratios.sort()
    let footprint = model.memoryFootprint(including: nil)
    let adapterParameters = trainer.model.adapters.values.reduce(0) { $0 + $1.rank * ($1.inFeatures + $1.outFeatures) }
    return LoRABenchFigure(
      threads: threads, keptActivationMB: keepMB, keptBlocks: trainer.model.retainedBlocks,
      prefillTokensPerSecond: Double(sequence) / prefill[prefill.count / 2],
      trainingTokensPerSecond: Double(sequence) / stepTimes[stepTimes.count / 2], ratio: ratios[ratios.count / 2],
      weightBytes: footprint.weightBytes, adapterParameters: adapterParameters, peakResidentBytes: nil)
  }
}

/// One thread count's figures.
struct LoRABenchFigure: Codable {
  var threads: Int
  /// `--keep-activations-mb` of this run, and how many blocks it kept (besides the last).
  var keptActivationMB: Int
  var keptBlocks: Int
  var prefillTokensPerSecond: Double
  var trainingTokensPerSecond: Double
  /// The median over rounds of (prefill time / step time), each round one prefill then one step.
  var ratio: Double
  var weightBytes: Int
  var adapterParameters: Int
  var peakResidentBytes: Int?
}

/// The whole run.
struct LoRABenchReport: Codable {
  var shape: String
  var layers: Int
  var sequence: Int
  var rank: Int
  /// `float32` or `bfloat16`.
  var savedActivations: String
  var processors: Int
  var loadAverage: Double
  var results: [LoRABenchFigure] = []

  func table() -> String {
    var lines = [
      "bnb-bench lora: synthetic \(shape) shape, \(layers) layers, NF4 at load, sequence \(sequence), r \(rank) on every linear layer, \(savedActivations) saved activations; \(processors) processors, load average \(String(format: "%.2f", loadAverage))",
      "threads  keep MB (blocks)  prefill tok/s  train tok/s  train/prefill  weights MB  peak RSS MB  RSS - weights MB",
    ]
    for figure in results {
      let weights = Double(figure.weightBytes) / 1e6
      let peak = figure.peakResidentBytes.map { Double($0) / 1e6 }
      let peakText = peak.map { String(format: "%.1f", $0) } ?? "n/a"
      let overText = peak.map { String(format: "%.1f", $0 - weights) } ?? "n/a"
      let kept = "\(figure.keptActivationMB) (\(figure.keptBlocks))"
      let keptText = String(repeating: " ", count: max(0, 16 - kept.count)) + kept
      lines.append(
        String(
          format: "%7d  %@  %13.1f  %11.1f  %13.3f  %10.1f", figure.threads, keptText, figure.prefillTokensPerSecond,
          figure.trainingTokensPerSecond, figure.ratio, weights)
          + "  " + String(repeating: " ", count: max(0, 11 - peakText.count)) + peakText
          + "  " + String(repeating: " ", count: max(0, 16 - overText.count)) + overText)
    }
    return lines.joined(separator: "\n")
  }
}
