public import Foundation
import QuantCore
import SafeTensors

/// Merges LoRA adapters into a dense checkpoint: `W' = W + s·B·A` for every adapted `<module>.weight`,
/// written in the weight's stored dtype (float32, float16 or bfloat16, one rounding), every other tensor
/// and file copied unchanged. The result is a plain checkpoint the runtime and transformers load.
///
/// Quantized (bitsandbytes) checkpoints are not handled here yet: they need dequantize → add →
/// re-quantize through the `bnb-patch` exporter.
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
}
