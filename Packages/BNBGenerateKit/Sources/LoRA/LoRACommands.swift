import ArgumentParser
import BNBPatchKit
import Foundation
import LanguageModels
import QLoRA

/// `bnb-lora`: QLoRA training over a (quantized) model, its evaluation, and fusing an adapter into the base.
struct LoRACommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-lora",
    abstract: "Train LoRA adapters over frozen (quantized) weights, evaluate them, fuse them (PEFT format).",
    discussion: """
      Flags are named as mlx_lm.lora names them. Exit statuses: 0 ok, 1 failure, 64 usage, 65 bad setting, \
      66 bad model, data or adapter, 74 I/O failure.
      """,
    subcommands: [LoRATrainCommand.self, LoRAEvalCommand.self, LoRAFuseCommand.self])
}

/// The LoRA settings of `bnb-lora train`.
struct LoRAOptions: ParsableArguments {
  @Option(help: "LoRA rank r.")
  var rank = 8

  @Option(help: "LoRA alpha (scaling = alpha / r).")
  var alpha: Float = 16

  @Option(help: "Dropout on the adapter input.")
  var dropout: Float = 0

  @Flag(name: .customLong("use-rslora"), help: "Scale by alpha / sqrt(r) (rsLoRA).")
  var useRSLoRA = false

  @Option(
    name: .customLong("target-modules"),
    help: "Comma-separated projection names (q_proj,v_proj) or all-linear.")
  var targetModules = "all-linear"

  @Option(name: .customLong("num-layers"), help: "Adapt only the last N layers (-1: all).")
  var numLayers = -1

  /// The adapter settings.
  var configuration: LoRAConfiguration {
    LoRAConfiguration(rank: rank, alpha: alpha, dropout: dropout, useRSLoRA: useRSLoRA)
  }

  /// The target selection for a model with `layers` blocks.
  func targets(layers: Int) throws(GenerateFailure) -> TargetModules {
    let names = targetModules.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    guard !names.isEmpty, !names.contains("") else {
      throw GenerateFailure(status: .configuration, message: "--target-modules needs names or all-linear")
    }
    guard numLayers == -1 || (1...layers).contains(numLayers) else {
      throw GenerateFailure(
        status: .configuration, message: "--num-layers must be -1 or 1...\(layers) (the model has \(layers) layers)")
    }
    let chosen = numLayers == -1 ? nil : Array((layers - numLayers)..<layers)
    return TargetModules(names: names == ["all-linear"] ? nil : names, layers: chosen)
  }
}

/// What `bnb-lora train` writes beside the adapter so that `--resume` continues bit-exactly.
struct LoRACheckpoint: Codable {
  static let fileName = "trainer_state.json"
  var settings: TrainingSettings
  var rank: Int
  var alpha: Float
  var dropout: Float
  var useRSLoRA: Bool
  var targetModules: String
  var numLayers: Int
  var state: LoRATrainer.TrainerState
}

/// `bnb-lora train`.
struct LoRATrainCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train LoRA adapters; write them in PEFT's format.")

  @OptionGroup var model: ModelOptions
  @OptionGroup var lora: LoRAOptions

  @Option(help: "A .jsonl file, or a folder with train.jsonl (and valid.jsonl).")
  var data: String

  @Option(name: .customLong("adapter-path"), help: "The output folder (adapter and checkpoint).")
  var adapterPath = "adapters"

  @Option(help: "Optimizer steps.")
  var iters = 100

  @Option(name: .customLong("batch-size"), help: "Sequences per step.")
  var batchSize = 4

  @Option(name: .customLong("learning-rate"), help: "Peak learning rate.")
  var learningRate = 2e-4

  @Option(help: "Learning-rate schedule: constant, linear or cosine.")
  var schedule = "constant"

  @Option(help: "Warm-up steps.")
  var warmup = 0

  @Option(name: .customLong("max-grad-norm"), help: "Clip gradients to this global norm (0: no clipping).")
  var maxGradientNorm: Float = 0.3

  @Option(name: .customLong("weight-decay"), help: "AdamW's decoupled weight decay.")
  var weightDecay: Double = 0

  @Option(
    name: .customLong("max-seq-length"),
    help: "Truncate sequences to this many tokens (default: 2048 or the model's max_position_embeddings if less).")
  var maxSeqLength: Int?

  @Option(help: "Seed of the adapter initialisation, dropout and data order.")
  var seed: UInt64 = 0

  @Option(name: .customLong("save-every"), help: "Write a checkpoint every N steps (0: only at the end).")
  var saveEvery = 100

  @Option(name: .customLong("steps-per-eval"), help: "Validation loss every N steps when valid data exists (0: never).")
  var stepsPerEval = 0

  @Option(name: .customLong("stop-at"), help: "Stop after this step with a checkpoint (continue with --resume).")
  var stopAt: Int?

  @Flag(help: "Continue from the checkpoint in --adapter-path, bit-exactly.")
  var resume = false

  @Flag(name: .customLong("skip-bad-lines"), help: "Skip malformed JSONL lines (reported) instead of failing.")
  var skipBadLines = false

  @Flag(help: "Print one JSON object per step on standard output instead of the progress line.")
  var json = false

  func validate() throws {
    if model.adapter != nil { throw ValidationError("train writes --adapter-path; use --resume to continue one") }
    if iters < 1 { throw ValidationError("--iters must be at least 1") }
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    if let maxSeqLength, maxSeqLength < 2 { throw ValidationError("--max-seq-length must be at least 2") }
    if saveEvery < 0 || stepsPerEval < 0 { throw ValidationError("--save-every and --steps-per-eval must be ≥ 0") }
    if let stopAt, !(1...iters).contains(stopAt) { throw ValidationError("--stop-at must be in 1...--iters") }
  }

  mutating func run() async throws {
    let console = CommandContext.current.console
    guard let schedule = LearningRateSchedule(rawValue: schedule) else {
      throw GenerateFailure(status: .configuration, message: "--schedule must be constant, linear or cosine")
    }
    let settings = TrainingSettings(
      learningRate: learningRate, schedule: schedule, warmupSteps: warmup, totalSteps: iters,
      sequencesPerStep: batchSize, maxGradientNorm: maxGradientNorm > 0 ? maxGradientNorm : nil,
      adamW: .init(weightDecay: weightDecay), seed: seed)
    let output = URL(filePath: adapterPath).standardizedFileURL
    let checkpoint = try resume ? Self.readCheckpoint(output) : nil
    if let checkpoint {
      guard checkpoint.settings == settings, checkpoint.rank == lora.rank, checkpoint.alpha == lora.alpha,
        checkpoint.dropout == lora.dropout, checkpoint.useRSLoRA == lora.useRSLoRA,
        checkpoint.targetModules == lora.targetModules, checkpoint.numLayers == lora.numLayers
      else {
        throw GenerateFailure(
          status: .configuration,
          message: "--resume: the settings differ from the checkpoint's in \(output.path); resume with the same flags")
      }
    }

    let runtime = try model.load()
    let layers = runtime.configuration.layerCount
    let positions = runtime.configuration.maxPositionEmbeddings
    if let maxSeqLength, maxSeqLength > positions {
      throw GenerateFailure(
        status: .configuration,
        message: "--max-seq-length \(maxSeqLength) exceeds the model's max_position_embeddings (\(positions))")
    }
    let maxLength = maxSeqLength ?? min(2048, positions)
    let encoder = try LoRATrainingData.encoder(modelFolder: model.directory)
    let (trainFile, validFile) = try LoRATrainingData.files(data)
    let (examples, skipped) = try LoRATrainingData.examples(
      trainFile, encoder: encoder, maxLength: maxLength, skipBadLines: skipBadLines)
    for line in skipped { console.writeError("skipped \(line.description)\n") }
    let validation = try validFile.map { (url) throws(GenerateFailure) in
      try LoRATrainingData.examples(url, encoder: encoder, maxLength: maxLength, skipBadLines: skipBadLines).0
    }

    var trainer: LoRATrainer
    do {
      var trainable = try TrainableModel(model: runtime)
      try trainable.addAdapters(configuration: lora.configuration, targets: try lora.targets(layers: layers), seed: seed)
      trainer = try LoRATrainer(model: trainable, examples: examples, settings: settings)
      if let checkpoint { try trainer.restore(checkpoint.state) }
    } catch let failure as GenerateFailure {
      throw failure
    } catch {
      throw GenerateFailure(status: .configuration, message: "\(error)")
    }

    let stop = stopAt ?? iters
    let started = Date()
    var tokens = 0
    let first = trainer.step
    while trainer.step < stop {
      let report: LoRATrainer.StepReport
      do {
        report = try trainer.trainStep()
      } catch {
        throw GenerateFailure(status: .failure, message: "\(error)")
      }
      tokens += report.tokens
      let elapsed = Date().timeIntervalSince(started)
      let rate = Double(tokens) / max(elapsed, 1e-9)
      let remaining = elapsed / Double(report.step - first) * Double(stop - report.step)
      var validationLoss: Float?
      if let validation, stepsPerEval > 0, report.step % stepsPerEval == 0 || report.step == stop {
        validationLoss = try Self.evaluate(trainer, validation)
      }
      if json {
        var line = String(
          format: #"{"step": %d, "loss": %.6f, "tokens": %d, "tokens_per_second": %.2f, "learning_rate": %.8g"#,
          report.step, report.loss, report.tokens, rate, report.learningRate)
        if let validationLoss { line += String(format: #", "validation_loss": %.6f"#, validationLoss) }
        console.write(line + "}\n")
      } else {
        var line = String(
          format: "step %d/%d  loss %.4f  %.1f tok/s  ETA %ds", report.step, iters, report.loss, rate,
          Int(remaining.rounded()))
        if let validationLoss { line += String(format: "  val loss %.4f", validationLoss) }
        console.writeError(line + "\n")
      }
      if saveEvery > 0, report.step % saveEvery == 0, report.step < stop {
        try save(trainer, settings: settings, to: output)
      }
    }
    try save(trainer, settings: settings, to: output)
    if !json { console.writeError("saved adapter and checkpoint (step \(trainer.step)) to \(output.path)\n") }
  }

  private static func evaluate(_ trainer: LoRATrainer, _ examples: [TrainingExample]) throws(GenerateFailure) -> Float {
    do { return try trainer.evaluate(examples) } catch { throw GenerateFailure(status: .failure, message: "\(error)") }
  }

  /// Writes the adapter (PEFT files) and the checkpoint; each file is renamed into place whole.
  private func save(_ trainer: LoRATrainer, settings: TrainingSettings, to output: URL) throws(GenerateFailure) {
    let manager = FileManager.default
    let staging = output.appending(path: ".staging-\(ProcessInfo.processInfo.processIdentifier)")
    do {
      try manager.createDirectory(at: staging, withIntermediateDirectories: true)
      defer { try? manager.removeItem(at: staging) }
      try PEFTAdapterFiles.write(trainer.model, to: staging, baseModel: model.model)
      let checkpoint = LoRACheckpoint(
        settings: settings, rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, useRSLoRA: lora.useRSLoRA,
        targetModules: lora.targetModules, numLayers: lora.numLayers, state: trainer.state)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      try encoder.encode(checkpoint).write(to: staging.appending(path: LoRACheckpoint.fileName))
      for name in [PEFTAdapterFiles.configurationName, PEFTAdapterFiles.weightsName, LoRACheckpoint.fileName] {
        guard rename(staging.appending(path: name).path, output.appending(path: name).path) == 0 else {
          throw GenerateFailure(
            status: .io, message: "\(output.appending(path: name).path): \(String(cString: strerror(errno)))")
        }
      }
    } catch let failure as GenerateFailure {
      throw failure
    } catch {
      throw GenerateFailure(status: .io, message: "\(output.path): \(error)")
    }
  }

  private static func readCheckpoint(_ output: URL) throws(GenerateFailure) -> LoRACheckpoint {
    let url = output.appending(path: LoRACheckpoint.fileName)
    do {
      return try JSONDecoder().decode(LoRACheckpoint.self, from: try Data(contentsOf: url))
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "--resume: \(url.path): \(error)")
    }
  }
}

/// `bnb-lora eval`.
struct LoRAEvalCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval", abstract: "Loss and perplexity of the model (with an adapter) on a data file.")

  @OptionGroup var model: ModelOptions

  @Option(help: "A .jsonl file, or a folder with test.jsonl.")
  var data: String

  @Option(name: .customLong("adapter-path"), help: "A PEFT adapter folder to evaluate with (none: the base).")
  var adapterPath: String?

  @Option(name: .customLong("max-seq-length"), help: "Truncate sequences to this many tokens (default: the model's limit).")
  var maxSeqLength: Int?

  @Flag(name: .customLong("skip-bad-lines"), help: "Skip malformed JSONL lines instead of failing.")
  var skipBadLines = false

  @Flag(help: "Print a JSON object.")
  var json = false

  func validate() throws {
    if model.adapter != nil { throw ValidationError("eval takes the adapter as --adapter-path") }
  }

  mutating func run() async throws {
    let console = CommandContext.current.console
    let runtime = try model.load()
    let encoder = try LoRATrainingData.encoder(modelFolder: model.directory)
    let (file, _) = try LoRATrainingData.files(data, split: "test")
    let positions = runtime.configuration.maxPositionEmbeddings
    if let maxSeqLength, !(2...positions).contains(maxSeqLength) {
      throw GenerateFailure(
        status: .configuration, message: "--max-seq-length must be in 2...\(positions) (max_position_embeddings)")
    }
    let (examples, _) = try LoRATrainingData.examples(
      file, encoder: encoder, maxLength: maxSeqLength ?? min(2048, positions), skipBadLines: skipBadLines)
    let loss: Float
    do {
      var trainable = try TrainableModel(model: runtime)
      if let adapterPath {
        let (configuration, adapters) = try PEFTAdapterFiles.read(from: URL(filePath: adapterPath).standardizedFileURL)
        try trainable.setAdapters(
          adapters, configuration: configuration.lora,
          targets: TargetModules(names: configuration.targetModules, layers: configuration.layersToTransform))
      } else {
        // The base alone: PEFT-initialised adapters have lora_B = 0, so they add exactly nothing.
        try trainable.addAdapters(configuration: LoRAConfiguration(), targets: .allLinear, seed: 0)
      }
      let trainer = try LoRATrainer(model: trainable, examples: examples, settings: TrainingSettings(totalSteps: 1))
      loss = try trainer.evaluate(examples)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "\(error)")
    }
    let tokens = examples.reduce(0) { total, example in
      total + ChunkedCrossEntropy.shiftedTargets(example.labels).filter { $0 != ChunkedCrossEntropy.ignoreIndex }.count
    }
    let perplexity = exp(Double(loss))
    if json {
      console.write(
        String(format: #"{"loss": %.6f, "perplexity": %.6f, "tokens": %d}"#, loss, perplexity, tokens) + "\n")
    } else {
      console.write(String(format: "loss %.4f  perplexity %.4f  (%d tokens)\n", loss, perplexity, tokens))
    }
  }
}

/// `bnb-lora fuse`.
struct LoRAFuseCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fuse", abstract: "Merge an adapter into a dense (f32/f16/bf16) base checkpoint: W + scaling·B·A.")

  @Option(help: "The base model folder.")
  var model: String

  @Option(name: .customLong("adapter-path"), help: "The PEFT adapter folder.")
  var adapterPath = "adapters"

  @Option(name: .customLong("save-path"), help: "The output folder (written whole or not at all).")
  var savePath = "fused_model"

  mutating func run() async throws {
    let console = CommandContext.current.console
    let adapters: [String: LoRAAdapter]
    do {
      adapters = try PEFTAdapterFiles.read(from: URL(filePath: adapterPath).standardizedFileURL).adapters
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "--adapter-path \(adapterPath): \(error)")
    }
    do {
      try AdapterFusion.fuse(
        modelFolder: URL(filePath: model).standardizedFileURL, adapters: adapters,
        outputFolder: URL(filePath: savePath).standardizedFileURL)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "\(error)")
    }
    console.writeError("fused \(adapters.count) adapters into \(savePath)\n")
  }
}
