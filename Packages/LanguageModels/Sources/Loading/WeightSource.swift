import Foundation
import ModelPatcher
import QuantCore
import SafeTensors

/// The tensors of a model folder as the runtime asks for them: plain tensors (memory-mapped views),
/// quantized weights recognised by the registry's formats, and plain weights quantized at load by the
/// plan `bnb-patch` would follow.
struct WeightSource {
  let input: ModelInput
  let checkpoint: QuantizedCheckpoint
  let registry: QuantRegistry
  let backend: any KernelBackend
  /// Format name of each quantized weight in the checkpoint.
  let storedFormats: [String: String]
  /// Every key a quantized weight occupies (its companions).
  let companionKeys: Set<String>
  /// Weights to quantize at load: name → (format, parameters).
  let loadPlan: [String: (format: String, parameters: FormatParameters)]

  init(directory: URL, registry: QuantRegistry, quantization: QuantizationJob?, backend: any KernelBackend)
    throws(LanguageModelError)
  {
    do {
      checkpoint = try QuantizedCheckpoint(url: directory, registry: registry)
    } catch {
      throw Self.translate(error, directory: directory)
    }
    input = checkpoint.input
    self.registry = registry
    self.backend = backend
    var formats: [String: String] = [:]
    var companions = Set<String>()
    for item in checkpoint.items {
      guard let format = item.format else { continue }
      formats[item.name] = format
      companions.formUnion(item.keys.filter { $0 != item.name })
    }
    storedFormats = formats
    companionKeys = companions
    var plan: [String: (format: String, parameters: FormatParameters)] = [:]
    if var job = quantization {
      job.model = directory
      job.output = directory.appending(path: ".bnb-load-unused")
      do {
        let (_, made) = try CheckpointPatcher(registry: registry).plan(job)
        for item in made.items {
          if case .quantize(let format, let parameters) = item.action { plan[item.name] = (format, parameters) }
        }
      } catch {
        throw .quantization(file: directory.path, reason: error.description)
      }
    }
    loadPlan = plan
  }

  static func translate(_ error: ModelPatcherError, directory: URL) -> LanguageModelError {
    switch error {
    case .invalidInput(let file, let tensor, let message):
      if let tensor { return .unsupportedTensor(file: file, tensor: tensor, reason: message) }
      return .checkpoint(file: file, reason: message)
    case .tensor(let file, let tensor, let format, let error):
      return .unsupportedTensor(file: file, tensor: tensor, reason: "\(format): \(error.description)")
    case .safeTensors(let error): return .checkpoint(file: error.file, reason: error.description)
    default: return .checkpoint(file: directory.path, reason: error.description)
    }
  }

  /// The file that holds `name` (for errors).
  func file(of name: String) -> String { input.fileName(of: name) }

  /// The folder's weights file (for errors about absent tensors).
  var weightsFile: String {
    input.checkpoint.indexURL?.path ?? input.checkpoint.files.first?.url.path ?? input.url.path
  }

  func has(_ name: String) -> Bool { input.checkpoint.entry(named: name) != nil }

  /// A plain tensor with the expected shape.
  func plain(_ name: String, shape: [Int]) throws(LanguageModelError) -> Tensor {
    if storedFormats[name] != nil {
      throw .unsupportedTensor(file: file(of: name), tensor: name, reason: "is stored quantized; it must be plain")
    }
    guard let entry = input.checkpoint.entry(named: name) else {
      throw .missingTensor(file: weightsFile, tensor: name)
    }
    guard [.float32, .float16, .bfloat16].contains(entry.dtype) else {
      var reason = "dtype \(entry.dtype) (expected float32, float16 or bfloat16)"
      if !entry.dtype.isFloatingPoint {
        let method = input.configuration?["quantization_config"]?["quant_method"]?.stringValue
        reason += "; it looks quantized by a format no installed plugin recognises"
        if let method { reason += " (config.json quant_method '\(method)')" }
      }
      throw .unsupportedTensor(file: file(of: name), tensor: name, reason: reason)
    }
    guard entry.shape == shape else {
      throw .shapeMismatch(file: file(of: name), tensor: name, expected: shape, found: entry.shape)
    }
    do {
      guard let tensor = try input.checkpoint.tensor(named: name) else {
        throw LanguageModelError.missingTensor(file: weightsFile, tensor: name)
      }
      return tensor
    } catch let error as LanguageModelError {
      throw error
    } catch {
      throw .checkpoint(file: file(of: name), reason: "tensor '\(name)': \(error)")
    }
  }

  /// A plain vector as float32.
  func floats(_ name: String, count: Int) throws(LanguageModelError) -> [Float] {
    let tensor = try plain(name, shape: [count])
    do {
      return try tensor.floats()
    } catch {
      throw .checkpoint(file: file(of: name), reason: "tensor '\(name)': \(error.description)")
    }
  }

  /// The projection `module` (`module.weight`, optional `module.bias`) with weight `[out, in]`.
  func linear(_ module: String, out: Int, in inFeatures: Int, bias hasBias: Bool) throws(LanguageModelError)
    -> any LinearLayer
  {
    let weightName = module + ".weight"
    let bias: Tensor? = hasBias ? try plain(module + ".bias", shape: [out]) : nil
    do {
      if storedFormats[weightName] != nil {
        let quantized: QuantizedTensor?
        do {
          quantized = try checkpoint.quantizedTensor(named: weightName)
        } catch {
          throw Self.translate(error, directory: input.url)
        }
        guard let quantized else { throw LanguageModelError.missingTensor(file: weightsFile, tensor: weightName) }
        guard quantized.shape == [out, inFeatures] else {
          throw LanguageModelError.shapeMismatch(
            file: file(of: weightName), tensor: weightName, expected: [out, inFeatures], found: quantized.shape)
        }
        return try QuantizedProjection(name: module, weight: quantized, bias: bias, backend: backend)
      }
      let weight = try plain(weightName, shape: [out, inFeatures])
      if let (formatName, parameters) = loadPlan[weightName] {
        let format = try registry.format(named: formatName)
        let quantized = try format.quantize(weight, parameters: parameters, backend: backend)
        return try QuantizedProjection(name: module, weight: quantized, bias: bias, backend: backend)
      }
      return DenseProjection(name: module, weight: weight, bias: bias)
    } catch let error as LanguageModelError {
      throw error
    } catch let error as QuantError {
      throw .unsupportedTensor(file: file(of: weightName), tensor: weightName, reason: error.description)
    } catch {
      throw .unsupportedTensor(file: file(of: weightName), tensor: weightName, reason: "\(error)")
    }
  }
}
