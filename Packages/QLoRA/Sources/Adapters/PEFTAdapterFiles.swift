public import Foundation
public import QuantCore
import SafeTensors

/// PEFT adapter folders: `adapter_config.json` plus `adapter_model.safetensors` with tensors named
/// `base_model.model.<module path>.lora_A.weight` (`[r, in]`) and `….lora_B.weight` (`[out, r]`), float32.
public enum PEFTAdapterFiles {
  /// The configuration file's name.
  public static let configurationName = "adapter_config.json"
  /// The weights file's name.
  public static let weightsName = "adapter_model.safetensors"

  /// PEFT's tensor name of one factor (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
  ///
  /// - Parameters:
  ///   - module: The module path.
  ///   - factor: `"A"` or `"B"`.
  /// - Returns: The key.
  public static func tensorName(module: String, factor: String) -> String {
    "base_model.model.\(module).lora_\(factor).weight"
  }

  /// Writes a model's adapters.
  ///
  /// - Parameters:
  ///   - model: The model whose ``TrainableModel/adapters`` to save.
  ///   - folder: The output folder (created if needed).
  ///   - baseModel: `base_model_name_or_path`.
  /// - Throws: `QLoRAError.io` when a file cannot be written.
  public static func write(_ model: TrainableModel, to folder: URL, baseModel: String? = nil) throws(QLoRAError) {
    let configuration = PEFTAdapterConfiguration(
      lora: model.loraConfiguration, targetModules: model.targets.peftTargetModules,
      layersToTransform: model.targets.layers, baseModel: baseModel)
    try write(adapters: model.adapters, order: model.adapterNames, configuration: configuration, to: folder)
  }

  /// Writes adapters with an explicit configuration.
  ///
  /// - Parameters:
  ///   - adapters: Adapters by module path.
  ///   - order: The module paths in the order to write.
  ///   - configuration: The configuration file's content.
  ///   - folder: The output folder.
  /// - Throws: `QLoRAError.io` when a file cannot be written.
  public static func write(
    adapters: [String: LoRAAdapter], order: [String], configuration: PEFTAdapterConfiguration, to folder: URL
  ) throws(QLoRAError) {
    do {
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try Data((configuration.jsonText + "\n").utf8).write(to: folder.appending(path: configurationName))
    } catch {
      throw .io(file: folder.appending(path: configurationName).path, reason: "\(error)")
    }
    let url = folder.appending(path: weightsName)
    var tensors = [(String, Tensor)]()
    do {
      for module in order {
        guard let adapter = adapters[module] else { continue }
        tensors.append(
          (tensorName(module: module, factor: "A"), try Tensor(adapter.a, shape: [adapter.rank, adapter.inFeatures])))
        tensors.append(
          (tensorName(module: module, factor: "B"), try Tensor(adapter.b, shape: [adapter.outFeatures, adapter.rank])))
      }
    } catch {
      throw .io(file: url.path, reason: "\(error)")
    }
    do {
      let writer = try SafeTensorsWriter(url: url, metadata: ["format": "pt"])
      for (name, tensor) in tensors.sorted(by: { $0.0 < $1.0 }) { try writer.add(tensor, named: name) }
      _ = try writer.finish()
    } catch {
      throw .io(file: url.path, reason: "\(error)")
    }
  }

  /// Reads an adapter folder written by PEFT (or by ``write(_:to:baseModel:)``).
  ///
  /// - Parameter folder: The folder with `adapter_config.json` and `adapter_model.safetensors`.
  /// - Returns: The configuration and the adapters by module path (`model.layers.0.self_attn.q_proj`).
  /// - Throws: `QLoRAError` naming the file and tensor at fault.
  public static func read(from folder: URL) throws(QLoRAError) -> (
    configuration: PEFTAdapterConfiguration, adapters: [String: LoRAAdapter]
  ) {
    let configuration = try PEFTAdapterConfiguration(contentsOf: folder.appending(path: configurationName))
    let url = folder.appending(path: weightsName)
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(contentsOf: url) } catch { throw .io(file: url.path, reason: "\(error)") }
    return (configuration, try adapters(from: file, file: url.path, configuration: configuration))
  }

  /// The adapters held by the tensors of an `adapter_model.safetensors`.
  ///
  /// - Parameters:
  ///   - source: The file's tensors.
  ///   - path: The path that errors name.
  ///   - configuration: The adapter's configuration (its rank must match the factors').
  /// - Returns: The adapters by module path (`model.layers.0.self_attn.q_proj`).
  /// - Throws: `QLoRAError.adapterTensor` naming the file and tensor at fault.
  public static func adapters(
    from source: any TensorSource, file path: String, configuration: PEFTAdapterConfiguration
  ) throws(QLoRAError) -> [String: LoRAAdapter] {
    var modules = Set<String>()
    for name in source.tensorNames {
      for suffix in [".lora_A.weight", ".lora_B.weight"] where name.hasSuffix(suffix) {
        var module = String(name.dropLast(suffix.count))
        if module.hasPrefix("base_model.model.") { module.removeFirst("base_model.model.".count) }
        modules.insert(module)
      }
      if name.hasSuffix(".lora_A.weight") || name.hasSuffix(".lora_B.weight") { continue }
      throw .adapterTensor(
        file: path, tensor: name, reason: "not a LoRA factor (DoRA, biases and modules_to_save are unsupported)")
    }
    guard !modules.isEmpty else {
      throw .adapterTensor(file: path, tensor: "*", reason: "the file holds no lora_A/lora_B tensors")
    }
    var adapters = [String: LoRAAdapter]()
    for module in modules.sorted() {
      let a = try factor(source, path: path, module: module, factor: "A")
      let b = try factor(source, path: path, module: module, factor: "B")
      guard a.shape[0] == configuration.lora.rank, b.shape[1] == configuration.lora.rank else {
        throw .adapterTensor(
          file: path, tensor: tensorName(module: module, factor: "A"),
          reason: "shapes \(a.shape) and \(b.shape) disagree with r = \(configuration.lora.rank)")
      }
      adapters[module] = try LoRAAdapter(
        a: a.values, b: b.values, inFeatures: a.shape[1], outFeatures: b.shape[0], configuration: configuration.lora)
    }
    return adapters
  }

  private static func factor(_ source: any TensorSource, path: String, module: String, factor: String) throws(QLoRAError) -> (
    shape: [Int], values: [Float]
  ) {
    let name = tensorName(module: module, factor: factor)
    let candidates = [name, "\(module).lora_\(factor).weight"]
    for candidate in candidates {
      guard let tensor = try? source.tensor(named: candidate) else { continue }
      guard tensor.shape.count == 2 else {
        throw .adapterTensor(file: path, tensor: candidate, reason: "shape \(tensor.shape) is not 2-D")
      }
      do {
        return (tensor.shape, try tensor.floats())
      } catch {
        throw .adapterTensor(file: path, tensor: candidate, reason: "\(error)")
      }
    }
    throw .adapterTensor(file: path, tensor: name, reason: "missing (its other factor is present)")
  }
}
