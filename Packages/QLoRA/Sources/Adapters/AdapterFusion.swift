public import Foundation
import QuantCore
import SafeTensors

/// Merges LoRA adapters into a dense checkpoint: `W' = W + s·B·A` for every adapted `<module>.weight`,
/// written in the weight's stored dtype (float32, float16 or bfloat16, one rounding), every other tensor
/// and file copied unchanged. The result is a plain checkpoint the runtime and transformers load.
///
/// A quantized base is fused by the caller as dequantize → ``fuse(modelFolder:adapters:outputFolder:)`` →
/// quantize again, then ``restoreUntouchedModules(base:requantized:adapted:outputFolder:)`` puts back the
/// base's own bytes for every module no adapter changed.
public enum AdapterFusion {
  /// Writes the fused checkpoint.
  ///
  /// - Parameters:
  ///   - modelFolder: The base model's folder (`config.json`, `*.safetensors`, tokenizer files).
  ///   - adapters: Adapters by module path (`model.layers.0.self_attn.q_proj`).
  ///   - outputFolder: Where to write (created; must differ from `modelFolder`).
  /// - Throws: `QLoRAError` naming the file or tensor at fault (a quantized weight, an adapter whose module
  ///   has no weight or the wrong shape).
  public static func fuse(modelFolder: URL, adapters: [String: LoRAAdapter], outputFolder: URL) throws(QLoRAError) {
    guard modelFolder.standardizedFileURL != outputFolder.standardizedFileURL else {
      throw .io(file: outputFolder.path, reason: "the output folder must differ from the model folder")
    }
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: modelFolder.path).sorted()
      try FileManager.default.createDirectory(at: outputFolder, withIntermediateDirectories: true)
    } catch {
      throw .io(file: modelFolder.path, reason: "\(error)")
    }
    var pending = Set(adapters.keys)
    for name in names where !name.hasPrefix(".") {
      let source = modelFolder.appending(path: name)
      let target = outputFolder.appending(path: name)
      if name.hasSuffix(".safetensors") {
        try fuseFile(source, into: target, adapters: adapters, pending: &pending)
      } else {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isFolder), !isFolder.boolValue else {
          continue
        }
        do {
          try? FileManager.default.removeItem(at: target)
          try FileManager.default.copyItem(at: source, to: target)
        } catch {
          throw .io(file: target.path, reason: "\(error)")
        }
      }
    }
    if let missing = pending.sorted().first {
      throw .unknownTargetModule(missing)
    }
  }

  private static func fuseFile(
    _ source: URL, into target: URL, adapters: [String: LoRAAdapter], pending: inout Set<String>
  ) throws(QLoRAError) {
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(contentsOf: source) } catch { throw .io(file: source.path, reason: "\(error)") }
    do {
      let writer = try SafeTensorsWriter(url: target, metadata: file.header.metadata)
      for name in file.tensorNames {
        let module = name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : name
        guard let adapter = adapters[module] else {
          try writer.add(file.requireTensor(named: name), named: name)
          continue
        }
        let tensor = try file.requireTensor(named: name)
        guard [.float32, .float16, .bfloat16].contains(tensor.dtype) else {
          throw QLoRAError.quantized(
            name: name, reason: "stored as \(tensor.dtype): fusing into quantized checkpoints is not supported yet")
        }
        guard tensor.shape == [adapter.outFeatures, adapter.inFeatures] else {
          throw QLoRAError.adapterTensor(
            file: source.path, tensor: name,
            reason: "shape \(tensor.shape), the adapter is [\(adapter.outFeatures), \(adapter.inFeatures)]")
        }
        let delta = adapter.delta
        let fused = zip(try tensor.floats(), delta).map { $0 + $1 }
        try writer.add(Tensor(converting: fused, to: tensor.dtype, shape: tensor.shape), named: name)
        pending.remove(module)
      }
      _ = try writer.finish()
    } catch let error as QLoRAError {
      throw error
    } catch {
      throw .io(file: target.path, reason: "\(error)")
    }
  }

  /// The module a checkpoint tensor belongs to: `model.layers.0.mlp.up_proj` for its `.weight`,
  /// `.weight.absmax`, `.weight.quant_state.…`, `.SCB` and `.weight_format` tensors.
  static func module(ofTensor name: String) -> String {
    if let range = name.range(of: ".weight") { return String(name[..<range.lowerBound]) }
    for suffix in [".SCB", ".bias"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
    return name
  }

  /// Writes `outputFolder`: the re-quantized checkpoint's files, where every tensor of a module that no
  /// adapter touched is the base's own bytes, so that only adapted modules differ from the base (a fresh
  /// quantization of a dequantized weight can differ from the stored one: double quantization recomputes
  /// its statistics, and the quant-state blob's length follows its printed numbers). A module is taken
  /// from the base as a whole, and only when the base holds exactly the same tensor names for it.
  ///
  /// - Parameters:
  ///   - base: The quantized base folder.
  ///   - requantized: The fused checkpoint after quantizing it again.
  ///   - adapted: The module paths the adapters changed.
  ///   - outputFolder: Where to write (created).
  /// - Returns: The number of modules taken from the base.
  /// - Throws: `QLoRAError.io` naming the file.
  @discardableResult
  public static func restoreUntouchedModules(
    base: URL, requantized: URL, adapted: Set<String>, outputFolder: URL
  ) throws(QLoRAError) -> Int {
    func files(_ folder: URL) throws(QLoRAError) -> [String] {
      do {
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted()
      } catch {
        throw .io(file: folder.path, reason: "\(error)")
      }
    }
    var baseTensors: [String: SafeTensorsFile] = [:]
    var baseModules: [String: Set<String>] = [:]
    for name in try files(base) where name.hasSuffix(".safetensors") {
      let url = base.appending(path: name)
      do {
        let file = try SafeTensorsFile(contentsOf: url)
        for tensor in file.tensorNames {
          baseTensors[tensor] = file
          baseModules[module(ofTensor: tensor), default: []].insert(tensor)
        }
      } catch {
        throw .io(file: url.path, reason: "\(error)")
      }
    }
    do {
      try FileManager.default.createDirectory(at: outputFolder, withIntermediateDirectories: true)
    } catch {
      throw .io(file: outputFolder.path, reason: "\(error)")
    }
    var restored = Set<String>()
    for name in try files(requantized) {
      let source = requantized.appending(path: name)
      let target = outputFolder.appending(path: name)
      guard name.hasSuffix(".safetensors") else {
        do { try FileManager.default.copyItem(at: source, to: target) } catch {
          throw .io(file: target.path, reason: "\(error)")
        }
        continue
      }
      do {
        let file = try SafeTensorsFile(contentsOf: source)
        var modules: [String: [SafeTensorsEntry]] = [:]
        for entry in file.entries { modules[module(ofTensor: entry.name), default: []].append(entry) }
        let fromBase = Set(
          modules.filter { module, entries in
            !adapted.contains(module) && Set(entries.map(\.name)) == baseModules[module, default: []]
          }.keys)
        let writer = try SafeTensorsWriter(url: target, metadata: file.metadata)
        for entry in file.entries {
          let module = module(ofTensor: entry.name)
          if fromBase.contains(module), let baseFile = baseTensors[entry.name] {
            try writer.addCopy(of: entry.name, in: baseFile, named: entry.name)
            restored.insert(module)
          } else {
            try writer.addCopy(of: entry.name, in: file, named: entry.name)
          }
        }
        _ = try writer.finish()
      } catch {
        throw .io(file: target.path, reason: "\(error)")
      }
    }
    return restored.count
  }
}
