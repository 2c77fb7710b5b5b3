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

  @Option(name: .long, help: "CPU threads (0 = one per core).")
  var threads: Int = 0

  @Option(name: .long, help: "A PEFT LoRA/QLoRA adapter folder (adapter_config.json, adapter_model.safetensors).")
  var adapter: String?

  func validate() throws {
    if loadIn4bit && loadIn8bit { throw ValidationError("--load-in-4bit and --load-in-8bit exclude each other") }
    if config != nil && (loadIn4bit || loadIn8bit) {
      throw ValidationError("--config and --load-in-4bit/--load-in-8bit exclude each other")
    }
    if threads < 0 { throw ValidationError("--threads must be 0 (one per core) or positive") }
  }

  /// The quantization at load these options ask for (`nil`: run the weights as stored).
  func quantization() throws(GenerateFailure) -> BitsAndBytesConfig? {
    let skip = skipModules.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
    if loadIn8bit { return .eightBit(threshold: int8Threshold, skipModules: skip) }
    guard loadIn4bit else { return nil }
    guard let type = BitsAndBytesConfig.QuantType(rawValue: quantType) else {
      throw GenerateFailure(status: .configuration, message: "--bnb-4bit-quant-type must be nf4 or fp4, found '\(quantType)'")
    }
    var compute: DType?
    if let computeDType {
      guard let dtype = DType(torchName: computeDType) else {
        throw GenerateFailure(
          status: .configuration, message: "--bnb-4bit-compute-dtype: unknown dtype '\(computeDType)'")
      }
      compute = dtype
    }
    return .fourBit(type, doubleQuant: doubleQuant, computeDType: compute, skipModules: skip)
  }

  /// The model folder.
  var directory: URL { URL(filePath: model).standardizedFileURL }

  /// Loads the model as these options say.
  ///
  /// - Parameter progress: Called with (layers built, layer count).
  /// - Returns: The model.
  /// - Throws: ``GenerateFailure`` with the status of the problem.
  func load(progress: ((Int, Int) -> Void)? = nil) throws(GenerateFailure) -> LanguageModel {
    let model = try loadBase(progress: progress)
    if let adapter { try attachAdapter(folder: adapter, to: model) }
    return model
  }

  /// Attaches the LoRA factors of a PEFT adapter folder to the model's projections.
  private func attachAdapter(folder: String, to model: LanguageModel) throws(GenerateFailure) {
    let adapters: [String: LoRAAdapter]
    do {
      adapters = try PEFTAdapterFiles.read(from: URL(filePath: folder).standardizedFileURL).adapters
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "--adapter \(folder): \(error)")
    }
    for (module, adapter) in adapters.sorted(by: { $0.key < $1.key }) {
      do {
        try model.setAdapter(adapter, for: module)
      } catch {
        throw GenerateFailure(
          status: .invalidInput, message: "--adapter \(folder): \(module) is not a projection of this model (\(error))")
      }
    }
  }

  private func loadBase(progress: ((Int, Int) -> Void)?) throws(GenerateFailure) -> LanguageModel {
    do {
      if let config {
        let job: QuantizationJob
        do {
          job = try QuantizationJob(contentsOf: URL(filePath: config).standardizedFileURL)
        } catch {
          throw GenerateFailure(status: .configuration, message: "\(config): \(error)")
        }
        return try LanguageModel.load(directory: directory, quantizationJob: job, threads: threads, progress: progress)
      }
      return try LanguageModel.load(
        directory: directory, quantization: try quantization(), threads: threads, progress: progress)
    } catch let error as GenerateFailure {
      throw error
    } catch let error as LanguageModelError {
      throw .model(error)
    } catch {
      throw GenerateFailure(status: .failure, message: "\(error)")
    }
  }
}
