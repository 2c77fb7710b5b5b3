import BNBPatchKit
import Foundation
import QuantCore
import SafeTensors
import TestSupport

/// Runs `bnb-patch` in-process and keeps what it printed.
struct CLIResult {
  var status: Int32
  var output: String
  var error: String
}

enum CLI {
  static func run(_ arguments: [String], plugins: [any QuantPlugin] = []) async -> CLIResult {
    let console = Console.capturing()
    let status = await BNBPatch.run(arguments: arguments, plugins: plugins, console: console)
    return CLIResult(status: status, output: console.capturedOutput, error: console.capturedError)
  }
}

extension TestFiles {
  /// Writes a job file and returns its path.
  static func job(_ yaml: String, in folder: URL, name: String = "job.yaml") throws -> String {
    let url = folder.appending(path: name)
    try Data(yaml.utf8).write(to: url)
    return url.path
  }

  /// A one-layer model folder; `poison` puts a NaN into that tensor.
  static func smallModel(in folder: URL, poison: Bool = false) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var values: [Float] = (0..<256).map { (index: Int) -> Float in Float((index * 37) % 17 - 8) / 100 }
    if poison { values[5] = .infinity }
    try SafeTensorsWriter.write(
      [
        NamedTensor("model.layers.0.mlp.up_proj.weight", try Tensor(converting: values, to: .float16, shape: [16, 16])),
        NamedTensor("model.norm.weight", try Tensor(converting: [Float](repeating: 1, count: 16), to: .float16)),
      ], to: folder.appending(path: "model.safetensors"))
    try Data(#"{"model_type": "llama"}"#.utf8).write(to: folder.appending(path: "config.json"))
    return folder
  }
}
