import Foundation
import LanguageModels
import ModelPatcher
import QLoRA
import QuantCore

/// A model folder and how to load it, whether it came from flags (``ModelOptions``) or from a
/// `bnb-lora` configuration file.
struct ModelSource {
  /// Quantization at load.
  enum Quantization {
    /// Run the weights as stored.
    case none
    /// transformers' `BitsAndBytesConfig` (`--load-in-4bit`, …).
    case bitsAndBytes(BitsAndBytesConfig)
    /// A `quant.yaml` job whose rules apply at load (nothing is written).
    case job(URL)
  }

  /// The model folder.
  var directory: URL
  /// Quantization at load.
  var quantization: Quantization
  /// CPU threads (0: one per core).
  var threads: Int
  /// A PEFT adapter folder to attach, if any.
  var adapter: String?

  /// The configuration that `--load-in-4bit`/`--load-in-8bit` and their companions ask for.
  static func bitsAndBytes(
    loadIn4bit: Bool, loadIn8bit: Bool, quantType: String, doubleQuant: Bool, computeDType: String?,
    int8Threshold: Double, skipModules: String?
  ) throws(GenerateFailure) -> BitsAndBytesConfig? {
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

  /// Loads the model, then attaches the adapter if there is one.
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
      switch quantization {
      case .job(let url):
        let job: QuantizationJob
        do {
          job = try QuantizationJob(contentsOf: url)
        } catch {
          throw GenerateFailure(status: .configuration, message: "\(url.path): \(error)")
        }
        return try LanguageModel.load(directory: directory, quantizationJob: job, threads: threads, progress: progress)
      case .bitsAndBytes(let configuration):
        return try LanguageModel.load(
          directory: directory, quantization: configuration, threads: threads, progress: progress)
      case .none:
        return try LanguageModel.load(directory: directory, quantization: nil, threads: threads, progress: progress)
      }
    } catch let error as GenerateFailure {
      throw error
    } catch let error as LanguageModelError {
      throw .model(error)
    } catch {
      throw GenerateFailure(status: .failure, message: "\(error)")
    }
  }
}
