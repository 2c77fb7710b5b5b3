import ArgumentParser
import BNBPatchKit
import BitsAndBytes
import Foundation
import LanguageModels
import ModelPatcher
import QLoRA
import QuantCore

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

/// `--config lora.yaml`, shared by the subcommands.
struct LoRAConfigOption: ParsableArguments {
  @Option(help: "A lora.yaml file with any of the settings below (flags given here override it).")
  var config: String?

  /// The file, read and checked (`nil` without `--config`).
  func file() throws(GenerateFailure) -> LoRAConfigFile? {
    try config.map { (path) throws(GenerateFailure) in try LoRAConfigFile(path: path) }
  }
}

/// The model options of `bnb-lora`: `bnb-generate`'s loading flags, with the `quant.yaml` job named
/// `--quant-config` (`--config` is the LoRA configuration here).
struct LoRAModelOptions: ParsableArguments {
  @Option(help: "The model folder (config.json, safetensors, tokenizer.json).")
  var model: String?

  @Option(name: .customLong("quant-config"), help: "Quantize plain weights at load as this quant.yaml job says.")
  var quantConfig: String?

  @OptionGroup var loading: QuantizationFlags

  @Option(help: "CPU threads (0 = one per core).")
  var threads: Int?

  func validate() throws {
    if quantConfig != nil && loading.asksForQuantization {
      throw ValidationError("--quant-config and --load-in-4bit/--load-in-8bit exclude each other")
    }
    if let threads, threads < 0 { throw ValidationError("--threads must be 0 (one per core) or positive") }
  }

  /// The model and its loading: flags first, then the file. A quantization flag replaces the file's
  /// `quantization:` as a whole.
  func source(_ file: LoRAConfigFile?) throws(GenerateFailure) -> ModelSource {
    guard let directory = model.map({ URL(filePath: $0).standardizedFileURL }) ?? file?.model else {
      throw GenerateFailure(status: .configuration, message: "the model is missing: give --model or model: in --config")
    }
    var quantization = ModelSource.Quantization.none
    if let quantConfig {
      quantization = .job(URL(filePath: quantConfig).standardizedFileURL)
    } else if let flags = try loading.configuration() {
      quantization = .bitsAndBytes(flags)
    } else {
      switch file?.quantization {
      case .bitsAndBytes(let configuration): quantization = .bitsAndBytes(configuration)
      case .job(let url): quantization = .job(url)
      case nil: break
      }
    }
    return ModelSource(directory: directory, quantization: quantization, threads: threads ?? file?.threads ?? 0)
  }
}

/// The LoRA settings of `bnb-lora train`.
struct LoRAOptions: ParsableArguments {
  @Option(help: "LoRA rank r (default 8).")
  var rank: Int?

  @Option(help: "LoRA alpha; scaling = alpha / r (default 16).")
  var alpha: Float?

  @Option(help: "Dropout on the adapter input (default 0).")
  var dropout: Float?

  @Flag(name: .customLong("use-rslora"), help: "Scale by alpha / sqrt(r) (rsLoRA).")
  var useRSLoRA = false

  @Option(
    name: .customLong("target-modules"),
    help: "Comma-separated projection names (q_proj,v_proj) or all-linear (the default).")
  var targetModules: String?

  @Option(name: .customLong("num-layers"), help: "Adapt only the last N layers (-1, the default: all).")
  var numLayers: Int?

  /// The settings: flags first, then the file, then the defaults.
  func resolved(_ file: LoRAConfigFile?) -> LoRASettings {
    LoRASettings(
      rank: rank ?? file?.rank ?? 8, alpha: alpha ?? file?.alpha ?? 16, dropout: dropout ?? file?.dropout ?? 0,
      useRSLoRA: useRSLoRA || file?.useRSLoRA == true,
      targetModules: targetModules ?? file?.targetModules ?? "all-linear", numLayers: numLayers ?? file?.numLayers ?? -1)
  }
}

/// LoRA settings after flags and `--config` are combined.
struct LoRASettings: Equatable, Codable {
  var rank: Int
  var alpha: Float
  var dropout: Float
  var useRSLoRA: Bool
  var targetModules: String
  var numLayers: Int

  /// The adapter settings.
  var configuration: LoRAConfiguration {
    LoRAConfiguration(rank: rank, alpha: alpha, dropout: dropout, useRSLoRA: useRSLoRA)
  }

  /// The target selection for a model with `layers` blocks.
  func targets(layers: Int) throws(GenerateFailure) -> TargetModules {
    let names = targetModules.split(separator: ",", omittingEmptySubsequences: false).map {
      String($0).trimmingCharacters(in: .whitespaces)
    }
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
  var lora: LoRASettings
  var state: LoRATrainer.TrainerState
}

/// `bnb-lora train`.
struct LoRATrainCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train LoRA adapters; write them in PEFT's format.")

  @OptionGroup var file: LoRAConfigOption
  @OptionGroup var model: LoRAModelOptions
  @OptionGroup var lora: LoRAOptions

  @Option(help: "A .jsonl file, or a folder with train.jsonl (and valid.jsonl).")
  var data: String?

  @Option(name: .customLong("adapter-path"), help: "The output folder, adapter and checkpoint (default adapters).")
  var adapterPath: String?

  @Option(help: "Optimizer steps (default 100).")
  var iters: Int?

  @Option(name: .customLong("batch-size"), help: "Sequences per step (default 4).")
  var batchSize: Int?

  @Option(name: .customLong("learning-rate"), help: "Peak learning rate (default 2e-4).")
  var learningRate: Double?

  @Option(help: "Learning-rate schedule: constant (default), constant_with_warmup, linear or cosine.")
  var schedule: String?

  @Option(help: "Warm-up steps (default 0).")
  var warmup: Int?

  @Option(name: .customLong("max-grad-norm"), help: "Clip gradients to this global norm (0: no clipping; default 0.3).")
  var maxGradientNorm: Float?

  @Option(name: .customLong("weight-decay"), help: "AdamW's decoupled weight decay (default 0).")
  var weightDecay: Double?

  @Option(
    name: .customLong("max-seq-length"),
    help: "Truncate sequences to this many tokens (default: 2048 or the model's max_position_embeddings if less).")
  var maxSeqLength: Int?

  @Option(help: "Seed of the adapter initialisation, dropout and data order (default 0).")
  var seed: UInt64?

  @Option(
    name: .customLong("keep-activations-mb"),
    help: """
      Megabytes of block activations to keep from the forward pass instead of recomputing them in the backward \
      pass: faster steps for more memory, the same results (default 0: every block but the last is recomputed).
      """)
  var keepActivationsMB: Int?

  @Option(
    name: .customLong("saved-activations"),
    help: """
      How the activations the backward pass reads are stored: float32 (default: exact gradients) or bfloat16 \
      (half the memory per kept block, so twice the blocks fit in --keep-activations-mb; the gradients read \
      rounded activations, the loss does not change).
      """)
  var savedActivations: String?

  @Option(name: .customLong("save-every"), help: "Write a checkpoint every N steps (0: only at the end; default 100).")
  var saveEvery: Int?

  @Option(
    name: .customLong("steps-per-eval"), help: "Validation loss every N steps when valid data exists (0, the default: never).")
  var stepsPerEval: Int?

  @Option(name: .customLong("stop-at"), help: "Stop after this step with a checkpoint (continue with --resume).")
  var stopAt: Int?

  @Flag(help: "Continue from the checkpoint in --adapter-path, bit-exactly.")
  var resume = false

  @Flag(name: .customLong("skip-bad-lines"), help: "Skip malformed JSONL lines (reported) instead of failing.")
  var skipBadLines = false

  @Flag(help: "Print one JSON object per step on standard output instead of the progress line.")
  var json = false

  func validate() throws {
    if let iters, iters < 1 { throw ValidationError("--iters must be at least 1") }
    if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    if let maxSeqLength, maxSeqLength < 2 { throw ValidationError("--max-seq-length must be at least 2") }
    if let keepActivationsMB, keepActivationsMB < 0 { throw ValidationError("--keep-activations-mb must be ≥ 0") }
    if let learningRate, !(learningRate > 0 && learningRate.isFinite) {
      throw ValidationError("--learning-rate must be a positive number")
    }
    if [saveEvery, stepsPerEval, warmup].contains(where: { ($0 ?? 0) < 0 }) {
      throw ValidationError("--save-every, --steps-per-eval and --warmup must be ≥ 0")
    }
    if let stopAt, stopAt < 1 { throw ValidationError("--stop-at must be at least 1") }
  }

  mutating func run() async throws {
    let console = CommandContext.current.console
    let file = try self.file.file()
    let iters = iters ?? file?.iters ?? 100
    let scheduleName = schedule ?? file?.schedule ?? "constant"
    guard let schedule = LearningRateSchedule(rawValue: scheduleName) else {
      let names = LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", ")
      throw GenerateFailure(status: .configuration, message: "--schedule must be \(names), found '\(scheduleName)'")
    }
    let precisionName = savedActivations ?? file?.savedActivations ?? SavedActivationPrecision.float32.rawValue
    guard let precision = SavedActivationPrecision(rawValue: precisionName) else {
      let names = SavedActivationPrecision.allCases.map(\.rawValue).joined(separator: " or ")
      throw GenerateFailure(
        status: .configuration, message: "--saved-activations must be \(names), found '\(precisionName)'")
    }
    if let stopAt, stopAt > iters {
      throw GenerateFailure(status: .configuration, message: "--stop-at must be in 1...\(iters) (--iters)")
    }
    let gradientNorm = maxGradientNorm ?? file?.maxGradientNorm ?? 0.3
    let seed = seed ?? file?.seed ?? 0
    let settings = TrainingSettings(
      learningRate: learningRate ?? file?.learningRate ?? 2e-4, schedule: schedule,
      warmupSteps: warmup ?? file?.warmup ?? 0, totalSteps: iters, sequencesPerStep: batchSize ?? file?.batchSize ?? 4,
      maxGradientNorm: gradientNorm > 0 ? gradientNorm : nil,
      adamW: .init(weightDecay: weightDecay ?? file?.weightDecay ?? 0), seed: seed)
    let lora = self.lora.resolved(file)
    let saveEvery = saveEvery ?? file?.saveEvery ?? 100
    let stepsPerEval = stepsPerEval ?? file?.stepsPerEval ?? 0
    let skipBadLines = skipBadLines || file?.skipBadLines == true
    let output =
      adapterPath.map { URL(filePath: $0).standardizedFileURL } ?? file?.adapterPath
      ?? URL(filePath: "adapters").standardizedFileURL
    guard let data = data.map({ URL(filePath: $0).standardizedFileURL }) ?? file?.data else {
      throw GenerateFailure(status: .configuration, message: "the data is missing: give --data or data: in --config")
    }
    let checkpoint = try resume ? Self.readCheckpoint(output) : nil
    if let checkpoint {
      guard checkpoint.settings == settings, checkpoint.lora == lora else {
        throw GenerateFailure(
          status: .configuration,
          message: "--resume: the settings differ from the checkpoint's in \(output.path); resume with the same flags")
      }
    }

    let source = try model.source(file)
    let runtime = try source.load()
    let layers = runtime.configuration.layerCount
    let positions = runtime.configuration.maxPositionEmbeddings
    let maxSeqLength = maxSeqLength ?? file?.maxSeqLength
    if let maxSeqLength, maxSeqLength > positions {
      throw GenerateFailure(
        status: .configuration,
        message: "--max-seq-length \(maxSeqLength) exceeds the model's max_position_embeddings (\(positions))")
    }
    let maxLength = maxSeqLength ?? min(2048, positions)
    let encoder = try LoRATrainingData.encoder(modelFolder: source.directory)
    let (trainFile, validFile) = try LoRATrainingData.files(data.path)
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
      let keepMB = keepActivationsMB ?? file?.keepActivationsMB ?? 0
      trainable.retainedActivationBytes =
        keepMB.multipliedReportingOverflow(by: 1_000_000).overflow ? Int.max : keepMB * 1_000_000
      trainable.savedActivationPrecision = precision
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
    let save = { (trainer: LoRATrainer) throws(GenerateFailure) in
      try Self.save(trainer, settings: settings, lora: lora, baseModel: source.directory.path, to: output)
    }
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
        line += #", "kept_blocks": \#(trainer.model.retainedBlocks)"#
        if let validationLoss { line += String(format: #", "validation_loss": %.6f"#, validationLoss) }
        console.write(line + "}\n")
      } else {
        var line = String(
          format: "step %d/%d  loss %.4f  %.1f tok/s  ETA %ds", report.step, iters, report.loss, rate,
          Int(remaining.rounded()))
        if let validationLoss { line += String(format: "  val loss %.4f", validationLoss) }
        console.writeError(line + "\n")
      }
      if saveEvery > 0, report.step % saveEvery == 0, report.step < stop { try save(trainer) }
    }
    try save(trainer)
    if !json { console.writeError("saved adapter and checkpoint (step \(trainer.step)) to \(output.path)\n") }
  }

  private static func evaluate(_ trainer: LoRATrainer, _ examples: [TrainingExample]) throws(GenerateFailure) -> Float {
    do { return try trainer.evaluate(examples) } catch { throw GenerateFailure(status: .failure, message: "\(error)") }
  }

  /// Writes the adapter (PEFT files) and the checkpoint; each file is renamed into place whole.
  private static func save(
    _ trainer: LoRATrainer, settings: TrainingSettings, lora: LoRASettings, baseModel: String, to output: URL
  ) throws(GenerateFailure) {
    let manager = FileManager.default
    let staging = output.appending(path: ".staging-\(ProcessInfo.processInfo.processIdentifier)")
    do {
      try manager.createDirectory(at: staging, withIntermediateDirectories: true)
      defer { try? manager.removeItem(at: staging) }
      try PEFTAdapterFiles.write(trainer.model, to: staging, baseModel: baseModel)
      let checkpoint = LoRACheckpoint(settings: settings, lora: lora, state: trainer.state)
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

  @OptionGroup var file: LoRAConfigOption
  @OptionGroup var model: LoRAModelOptions

  @Option(help: "A .jsonl file, or a folder with test.jsonl.")
  var data: String?

  @Option(
    name: .customLong("adapter-path"),
    help: "A PEFT adapter folder to evaluate with (default: adapter_path in --config, else none: the base).")
  var adapterPath: String?

  @Flag(name: .customLong("base-only"), help: "Evaluate the base even when --config names an adapter_path.")
  var baseOnly = false

  @Option(name: .customLong("max-seq-length"), help: "Truncate sequences to this many tokens (default: the model's limit).")
  var maxSeqLength: Int?

  @Flag(name: .customLong("skip-bad-lines"), help: "Skip malformed JSONL lines instead of failing.")
  var skipBadLines = false

  @Flag(help: "Print a JSON object.")
  var json = false

  mutating func run() async throws {
    let console = CommandContext.current.console
    let file = try self.file.file()
    let source = try model.source(file)
    guard let data = data.map({ URL(filePath: $0).standardizedFileURL }) ?? file?.data else {
      throw GenerateFailure(status: .configuration, message: "the data is missing: give --data or data: in --config")
    }
    let adapter = baseOnly ? nil : adapterPath.map { URL(filePath: $0).standardizedFileURL } ?? file?.adapterPath
    let runtime = try source.load()
    let encoder = try LoRATrainingData.encoder(modelFolder: source.directory)
    let (dataFile, _) = try LoRATrainingData.files(data.path, split: "test")
    let positions = runtime.configuration.maxPositionEmbeddings
    let maxSeqLength = maxSeqLength ?? file?.maxSeqLength
    if let maxSeqLength, !(2...positions).contains(maxSeqLength) {
      throw GenerateFailure(
        status: .configuration, message: "--max-seq-length must be in 2...\(positions) (max_position_embeddings)")
    }
    let (examples, _) = try LoRATrainingData.examples(
      dataFile, encoder: encoder, maxLength: maxSeqLength ?? min(2048, positions),
      skipBadLines: skipBadLines || file?.skipBadLines == true)
    let loss: Float
    do {
      var trainable = try TrainableModel(model: runtime)
      if let adapter {
        let (configuration, adapters) = try PEFTAdapterFiles.read(from: adapter)
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
    commandName: "fuse", abstract: "Merge an adapter into the base: W + scaling·B·A, re-quantized to the base's format.",
    discussion: """
      A dense base (float32, float16, bfloat16) is fused in its stored dtype. A bitsandbytes base (bnb-patch or \
      transformers output) is dequantized to its original dtype, fused, and quantized again with its \
      quantization_config (--dequantize keeps the dense result). The output is written beside --save-path and \
      renamed into place: it appears whole or not at all, and an existing --save-path is refused.
      """)

  @OptionGroup var file: LoRAConfigOption

  @Option(help: "The base model folder.")
  var model: String?

  @Option(name: .customLong("adapter-path"), help: "The PEFT adapter folder (default adapters).")
  var adapterPath: String?

  @Option(name: .customLong("save-path"), help: "The output folder, written whole or not at all (default fused_model).")
  var savePath: String?

  @Flag(help: "For a quantized base: write the fused weights dense, in the base's original dtype.")
  var dequantize = false

  mutating func run() async throws {
    let console = CommandContext.current.console
    let file = try self.file.file()
    guard let model = model.map({ URL(filePath: $0).standardizedFileURL }) ?? file?.model else {
      throw GenerateFailure(status: .configuration, message: "the model is missing: give --model or model: in --config")
    }
    let adapterPath =
      adapterPath.map { URL(filePath: $0).standardizedFileURL } ?? file?.adapterPath
      ?? URL(filePath: "adapters").standardizedFileURL
    let savePath =
      savePath.map { URL(filePath: $0).standardizedFileURL } ?? file?.savePath
      ?? URL(filePath: "fused_model").standardizedFileURL
    let adapters: [String: LoRAAdapter]
    do {
      adapters = try PEFTAdapterFiles.read(from: adapterPath).adapters
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "--adapter-path \(adapterPath.path): \(error)")
    }
    guard !FileManager.default.fileExists(atPath: savePath.path) else {
      throw GenerateFailure(
        status: .configuration, message: "--save-path \(savePath.path) exists; remove it or choose another folder")
    }
    let parent = savePath.deletingLastPathComponent()
    let scratch = parent.appending(path: ".\(savePath.lastPathComponent).bnb-lora-\(ProcessInfo.processInfo.processIdentifier)")
    defer { try? FileManager.default.removeItem(at: scratch) }
    do {
      try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    } catch {
      throw GenerateFailure(status: .io, message: "\(scratch.path): \(error)")
    }
    let patcher = CheckpointPatcher(registry: try Self.registry())
    let checkpoint: QuantizedCheckpoint
    do {
      checkpoint = try patcher.loadCheckpoint(at: model)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "--model \(model.path): \(error)")
    }
    let fused = scratch.appending(path: "fused")
    if checkpoint.quantizedItems.isEmpty {
      try Self.fuse(model, adapters, into: fused)
      try Self.moveIntoPlace(fused, savePath)
      console.writeError("fused \(adapters.count) adapters into \(savePath.path)\n")
      return
    }
    let formats = Set(checkpoint.quantizedItems.compactMap(\.format)).sorted()
    let quantization = checkpoint.bitsAndBytesConfig
    if !dequantize && quantization == nil {
      throw GenerateFailure(
        status: .unsupported,
        message: "\(model.path) is quantized (\(formats.joined(separator: ", "))) without a bitsandbytes "
          + "quantization_config, which fuse needs to quantize it again; --dequantize writes the fused model dense")
    }
    let dense = scratch.appending(path: "dense")
    do {
      try await patcher.dequantizeCheckpoint(at: model, to: dense)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "dequantizing \(model.path): \(error)")
    }
    try Self.fuse(dense, adapters, into: fused)
    if let quantization, !dequantize {
      let requantized = scratch.appending(path: "requantized")
      var job = QuantizationJob(model: fused, output: requantized, quantization: quantization)
      job.copyOtherFiles = true
      do {
        try await patcher.quantizeModel(job)
      } catch {
        throw GenerateFailure(status: .failure, message: "quantizing the fused model again: \(error)")
      }
      // Only the adapted modules change: every other module keeps the base's bytes.
      let final = scratch.appending(path: "final")
      let kept: Int
      do {
        kept = try AdapterFusion.restoreUntouchedModules(
          base: model, requantized: requantized, adapted: Set(adapters.keys), outputFolder: final)
      } catch {
        throw GenerateFailure(status: .io, message: "\(error)")
      }
      try Self.moveIntoPlace(final, savePath)
      console.writeError(
        "fused \(adapters.count) adapters into \(savePath.path), quantized again "
          + "(\(formats.joined(separator: ", "))); \(kept) untouched modules kept byte for byte\n")
    } else {
      try Self.moveIntoPlace(fused, savePath)
      console.writeError(
        "fused \(adapters.count) adapters into \(savePath.path) (dense: \(formats.joined(separator: ", ")) decoded)\n")
    }
  }

  private static func registry() throws(GenerateFailure) -> QuantRegistry {
    do { return try StandardRegistry.make() } catch {
      throw GenerateFailure(status: .configuration, message: "the format registry: \(error)")
    }
  }

  private static func fuse(_ model: URL, _ adapters: [String: LoRAAdapter], into output: URL) throws(GenerateFailure) {
    do {
      try AdapterFusion.fuse(modelFolder: model, adapters: adapters, outputFolder: output)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "\(error)")
    }
  }

  private static func moveIntoPlace(_ staged: URL, _ destination: URL) throws(GenerateFailure) {
    guard rename(staged.path, destination.path) == 0 else {
      throw GenerateFailure(status: .io, message: "\(destination.path): \(String(cString: strerror(errno)))")
    }
  }
}
