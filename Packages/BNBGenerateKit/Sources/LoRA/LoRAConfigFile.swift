import Foundation
import ModelPatcher
import QLoRA
import QuantCore

/// A `bnb-lora --config lora.yaml` file: every setting of `train`, `eval` and `fuse` under the flag's name
/// with `_` for `-` (`batch_size: 4`). Flags given on the command line override the file. Relative paths are
/// resolved against the file's folder, as in `quant.yaml`. Every problem is reported at its `line:column`.
///
/// ```yaml
/// model: ../tiny-llama
/// quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true}
/// data: .
/// adapter_path: ../../out/lora
/// iters: 30
/// batch_size: 3
/// learning_rate: 1.0e-2
/// target_modules: [q_proj, v_proj]
/// ```
struct LoRAConfigFile {
  /// How the file asks for the model to be quantized at load.
  enum Quantization {
    /// A `quantization:` mapping (transformers' `BitsAndBytesConfig` keys).
    case bitsAndBytes(BitsAndBytesConfig)
    /// `quantization: quant.yaml`: a `bnb-patch` job whose rules apply at load.
    case job(URL)
  }

  /// The keys a file may contain.
  static let keys = [
    "model", "quantization", "threads", "data", "adapter_path", "save_path", "iters", "batch_size", "learning_rate",
    "schedule", "warmup", "max_grad_norm", "weight_decay", "max_seq_length", "seed", "save_every", "steps_per_eval",
    "skip_bad_lines", "rank", "alpha", "dropout", "use_rslora", "target_modules", "num_layers", "keep_activations_mb",
    "saved_activations",
  ]

  /// The file's path, for messages.
  var file: String
  var model: URL?
  var quantization: Quantization?
  var threads: Int?
  var data: URL?
  var adapterPath: URL?
  var savePath: URL?
  var iters: Int?
  var batchSize: Int?
  var learningRate: Double?
  var schedule: String?
  var warmup: Int?
  var maxGradientNorm: Float?
  var weightDecay: Double?
  var maxSeqLength: Int?
  /// Megabytes of block activations kept instead of recomputed (`TrainableModel.retainedActivationBytes`).
  var keepActivationsMB: Int?
  /// `float32` or `bfloat16` (`TrainableModel.savedActivationPrecision`).
  var savedActivations: String?
  var seed: UInt64?
  var saveEvery: Int?
  var stepsPerEval: Int?
  var skipBadLines: Bool?
  var rank: Int?
  var alpha: Float?
  var dropout: Float?
  var useRSLoRA: Bool?
  var targetModules: String?
  var numLayers: Int?

  /// Reads and checks a file.
  ///
  /// - Parameter path: The file, as the user gave it.
  /// - Throws: ``GenerateFailure`` with status 65 and `file:line:column` for a bad key or value, 66 for an
  ///   unreadable file.
  init(path: String) throws(GenerateFailure) {
    let url = URL(filePath: path).standardizedFileURL
    do {
      try self.init(root: YAMLDocument(contentsOf: url).root, baseFolder: url.deletingLastPathComponent())
    } catch {
      throw GenerateFailure(status: .configuration, message: "--config: \(error)")
    }
  }

  /// Reads the settings of a parsed document.
  init(root: YAMLNode, baseFolder: URL) throws(ConfigurationError) {
    file = root.file
    try root.requireKeys(in: Self.keys, "the LoRA configuration")
    func path(_ key: String) throws(ConfigurationError) -> URL? {
      guard let node = root[key], !node.isNull else { return nil }
      return QuantizationJob.resolve(try node.string(key), against: baseFolder)
    }
    func integer(_ key: String, atLeast minimum: Int) throws(ConfigurationError) -> Int? {
      guard let node = root[key], !node.isNull else { return nil }
      let value = try node.int(key)
      guard value >= minimum else { throw node.error("\(key) must be at least \(minimum)") }
      return value
    }
    func number(_ key: String, _ valid: (Double) -> Bool, _ rule: String) throws(ConfigurationError) -> Double? {
      guard let node = root[key], !node.isNull else { return nil }
      let value = try node.double(key)
      guard value.isFinite, valid(value) else { throw node.error("\(key) must be \(rule)") }
      return value
    }
    func flag(_ key: String) throws(ConfigurationError) -> Bool? {
      guard let node = root[key], !node.isNull else { return nil }
      return try node.bool(key)
    }

    model = try path("model")
    data = try path("data")
    adapterPath = try path("adapter_path")
    savePath = try path("save_path")
    if let node = root["quantization"], !node.isNull {
      if (try? node.mapping("quantization")) != nil {
        quantization = .bitsAndBytes(try BitsAndBytesConfig(yaml: node))
      } else {
        quantization = .job(QuantizationJob.resolve(try node.string("quantization"), against: baseFolder))
      }
    }
    threads = try integer("threads", atLeast: 0)
    iters = try integer("iters", atLeast: 1)
    batchSize = try integer("batch_size", atLeast: 1)
    learningRate = try number("learning_rate", { $0 > 0 }, "a positive number")
    if let node = root["schedule"], !node.isNull {
      schedule = try node.string("schedule", choices: LearningRateSchedule.allCases.map(\.rawValue))
    }
    warmup = try integer("warmup", atLeast: 0)
    maxGradientNorm = try number("max_grad_norm", { $0 >= 0 }, "0 (no clipping) or positive").map(Float.init)
    weightDecay = try number("weight_decay", { $0 >= 0 }, "0 or positive")
    maxSeqLength = try integer("max_seq_length", atLeast: 2)
    keepActivationsMB = try integer("keep_activations_mb", atLeast: 0)
    if let node = root["saved_activations"], !node.isNull {
      savedActivations = try node.string(
        "saved_activations", choices: SavedActivationPrecision.allCases.map(\.rawValue))
    }
    seed = try integer("seed", atLeast: 0).map(UInt64.init)
    saveEvery = try integer("save_every", atLeast: 0)
    stepsPerEval = try integer("steps_per_eval", atLeast: 0)
    skipBadLines = try flag("skip_bad_lines")
    rank = try integer("rank", atLeast: 1)
    alpha = try number("alpha", { $0 > 0 }, "a positive number").map(Float.init)
    dropout = try number("dropout", { (0..<1).contains($0) }, "in [0, 1)").map(Float.init)
    useRSLoRA = try flag("use_rslora")
    if let node = root["target_modules"], !node.isNull {
      let names = try node.strings("target_modules")
      guard !names.isEmpty, !names.contains(where: { $0.isEmpty || $0.contains(",") }) else {
        throw node.error("target_modules needs projection names (q_proj, v_proj) or all-linear")
      }
      targetModules = names.joined(separator: ",")
    }
    if let node = root["num_layers"], !node.isNull {
      let value = try node.int("num_layers")
      guard value == -1 || value >= 1 else { throw node.error("num_layers must be -1 (all) or at least 1") }
      numLayers = value
    }
  }
}
