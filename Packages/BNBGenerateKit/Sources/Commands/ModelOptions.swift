import ArgumentParser
import Foundation
import LanguageModels
import ModelPatcher
import QLoRA
import QuantCore

/// The options that say which model to load and how (shared by `bnb-generate` and `bnb-chat`).
struct ModelOptions: ParsableArguments {
  @Option(name: .long, help: "The model folder (config.json, safetensors, tokenizer.json).")
  var model: String

  @Option(name: .long, help: "Quantize plain weights at load as this quant.yaml job says (nothing is written).")
  var config: String?

  @OptionGroup var loading: QuantizationFlags

  @Option(name: .long, help: "CPU threads (0 = one per core).")
  var threads: Int = 0

  @Option(name: .long, help: "A PEFT LoRA/QLoRA adapter folder (adapter_config.json, adapter_model.safetensors).")
  var adapter: String?

  func validate() throws {
    if config != nil && loading.asksForQuantization {
      throw ValidationError("--config and --load-in-4bit/--load-in-8bit exclude each other")
    }
    if threads < 0 { throw ValidationError("--threads must be 0 (one per core) or positive") }
  }

  /// The quantization at load these options ask for (`nil`: run the weights as stored).
  func quantization() throws(GenerateFailure) -> BitsAndBytesConfig? { try loading.configuration() }

  /// The model folder.
  var directory: URL { URL(filePath: model).standardizedFileURL }

  /// The model and how to load it.
  func source() throws(GenerateFailure) -> ModelSource {
    let quantization: ModelSource.Quantization
    if let config {
      quantization = .job(URL(filePath: config).standardizedFileURL)
    } else {
      quantization = try self.quantization().map { .bitsAndBytes($0) } ?? .none
    }
    return ModelSource(directory: directory, quantization: quantization, threads: threads, adapter: adapter)
  }

  /// Loads the model as these options say.
  ///
  /// - Parameter progress: Called with (layers built, layer count).
  /// - Returns: The model.
  /// - Throws: ``GenerateFailure`` with the status of the problem.
  func load(progress: ((Int, Int) -> Void)? = nil) throws(GenerateFailure) -> LanguageModel {
    try source().load(progress: progress)
  }
}

/// `--load-in-4bit`, `--load-in-8bit` and their companions, named as transformers' `BitsAndBytesConfig`
/// fields (shared by `bnb-generate`, `bnb-chat` and `bnb-lora`).
struct QuantizationFlags: ParsableArguments {
  @Flag(name: .customLong("load-in-4bit"), help: "Quantize plain weights to 4 bits at load.")
  var loadIn4bit = false

  @Flag(name: .customLong("load-in-8bit"), help: "Quantize plain weights to LLM.int8 at load.")
  var loadIn8bit = false

  @Option(name: .customLong("bnb-4bit-quant-type"), help: "With --load-in-4bit: nf4 (default here) or fp4.")
  var quantType: String = "nf4"

  @Flag(name: .customLong("bnb-4bit-use-double-quant"), help: "With --load-in-4bit: double-quantize the absmax.")
  var doubleQuant = false

  @Option(name: .customLong("bnb-4bit-compute-dtype"), help: "With --load-in-4bit: float32, float16 or bfloat16.")
  var computeDType: String?

  @Option(name: .customLong("llm-int8-threshold"), help: "With --load-in-8bit: the outlier threshold (6.0).")
  var int8Threshold: Double = 6.0

  @Option(name: .customLong("llm-int8-skip-modules"), help: "Comma-separated modules kept in high precision.")
  var skipModules: String?

  func validate() throws {
    if loadIn4bit && loadIn8bit { throw ValidationError("--load-in-4bit and --load-in-8bit exclude each other") }
  }

  /// Whether a flag asks for quantization at load.
  var asksForQuantization: Bool { loadIn4bit || loadIn8bit }

  /// The configuration these flags ask for (`nil`: none).
  func configuration() throws(GenerateFailure) -> BitsAndBytesConfig? {
    try ModelSource.bitsAndBytes(
      loadIn4bit: loadIn4bit, loadIn8bit: loadIn8bit, quantType: quantType, doubleQuant: doubleQuant,
      computeDType: computeDType, int8Threshold: int8Threshold, skipModules: skipModules)
  }
}
