import FormatConformance
import Foundation
import ModelPatcher
import QuantCore
import SafeTensors
import TestSupport

/// Small synthetic models for the model patcher tests.
extension TestFiles {
  /// Writes a small Llama-like model folder: `config.json`, `model.safetensors` and a tokenizer file.
  ///
  /// - Parameters:
  ///   - folder: Where to write (created).
  ///   - poison: A tensor name whose first value becomes NaN.
  /// - Returns: The folder.
  @discardableResult
  static func writeSmallModel(in folder: URL, poison: String? = nil) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var generator = SeededNormal(seed: 7)
    func weights(_ rows: Int, _ columns: Int, name: String) throws -> NamedTensor {
      var values = generator.values(rows * columns).map { $0 * 0.02 }
      if name == poison { values[0] = .nan }
      return NamedTensor(name, try Tensor(converting: values, to: .float16, shape: [rows, columns]))
    }
    let tensors = [
      try weights(32, 16, name: "model.embed_tokens.weight"),
      try weights(16, 16, name: "model.layers.0.self_attn.q_proj.weight"),
      try weights(48, 16, name: "model.layers.0.mlp.up_proj.weight"),
      try weights(16, 48, name: "model.layers.0.mlp.down_proj.weight"),
      NamedTensor(
        "model.layers.0.input_layernorm.weight", try Tensor(converting: [Float](repeating: 1, count: 16), to: .float16)),
      try weights(32, 16, name: "lm_head.weight"),
    ]
    try SafeTensorsWriter.write(tensors, to: folder.appending(path: "model.safetensors"))
    try Data(#"{"model_type": "llama", "tie_word_embeddings": false, "hidden_size": 16, "rms_norm_eps": 1e-06}"#.utf8)
      .write(to: folder.appending(path: "config.json"))
    try Data("{\"note\": \"tokenizer\"}\n".utf8).write(to: folder.appending(path: "tokenizer_config.json"))
    return folder
  }

  /// Every file under a folder with its bytes (to prove inputs are untouched).
  static func snapshot(_ folder: URL) throws -> [String: Data] {
    var result: [String: Data] = [:]
    for name in try contents(of: folder) { result[name] = try Data(contentsOf: folder.appending(path: name)) }
    return result
  }
}
