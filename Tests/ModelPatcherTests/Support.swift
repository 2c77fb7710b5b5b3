import Foundation
import ModelPatcher
import QuantCore
import SafeTensors

/// Fixture paths, scratch folders and small synthetic models for the model patcher tests.
enum TestFiles {
  /// The repository root.
  static let repository = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  /// `Tests/Fixtures`.
  static let fixtures = repository.appending(path: "Tests/Fixtures")
  /// `Examples/tiny-llama`, the fp16 model the transformers fixtures were made from.
  static let tinyLlama = repository.appending(path: "Examples/tiny-llama")

  /// A fixture by relative path.
  static func fixture(_ path: String) -> URL { fixtures.appending(path: path) }

  /// A fresh empty folder.
  static func scratchFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appending(path: "modelpatcher-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The names in a folder, sorted, hidden ones included.
  static func contents(of folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
  }

  /// Writes a small Llama-like model folder: `config.json`, `model.safetensors` and a tokenizer file.
  ///
  /// - Parameters:
  ///   - folder: Where to write (created).
  ///   - poison: A tensor name whose first value becomes NaN.
  /// - Returns: The folder.
  @discardableResult
  static func writeSmallModel(in folder: URL, poison: String? = nil) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var generator = SplitMix(seed: 7)
    func weights(_ rows: Int, _ columns: Int, name: String) throws -> NamedTensor {
      var values = (0..<(rows * columns)).map { _ in Float(generator.nextGaussian() * 0.02) }
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

/// A small deterministic generator for synthetic weights.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func nextGaussian() -> Double {
    let u = (Double(next() >> 11) + 0.5) / Double(1 << 53)
    let v = (Double(next() >> 11) + 0.5) / Double(1 << 53)
    return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
  }
}
