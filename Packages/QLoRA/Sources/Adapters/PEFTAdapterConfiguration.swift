public import Foundation
import QuantCore

/// PEFT's `adapter_config.json` for a LoRA adapter on a causal LM (the fields QLoRA reads and writes).
public struct PEFTAdapterConfiguration: Sendable, Equatable {
  /// Rank, alpha, dropout and rsLoRA.
  public var lora: LoRAConfiguration
  /// `target_modules` (always written: without it PEFT adapts `q_proj`/`v_proj` only).
  public var targetModules: [String]
  /// `layers_to_transform`.
  public var layersToTransform: [Int]?
  /// `base_model_name_or_path`.
  public var baseModel: String?

  /// Creates a configuration.
  ///
  /// - Parameters:
  ///   - lora: The LoRA settings.
  ///   - targetModules: Module names.
  ///   - layersToTransform: Restricting layers, if any.
  ///   - baseModel: The base model's name or path.
  public init(lora: LoRAConfiguration, targetModules: [String], layersToTransform: [Int]? = nil, baseModel: String? = nil) {
    self.lora = lora
    self.targetModules = targetModules
    self.layersToTransform = layersToTransform
    self.baseModel = baseModel
  }

  static func number(_ value: Float) -> JSONValue {
    value == value.rounded() && abs(value) < 1e9 ? .number(JSONNumber(Int(value))) : .number(JSONNumber(Double(value)))
  }

  /// The file's text, with PEFT's keys (sorted, indent 2, as `save_pretrained` writes it).
  public var jsonText: String {
    let members: [(String, JSONValue)] = [
      ("alpha_pattern", .object([])),
      ("base_model_name_or_path", baseModel.map { .string($0) } ?? .null),
      ("bias", .string("none")),
      ("fan_in_fan_out", .bool(false)),
      ("inference_mode", .bool(true)),
      ("init_lora_weights", .bool(true)),
      ("layers_pattern", .null),
      ("layers_to_transform", layersToTransform.map { .array($0.map { .number(JSONNumber($0)) }) } ?? .null),
      ("lora_alpha", Self.number(lora.alpha)),
      ("lora_dropout", .number(JSONNumber(Double(lora.dropout)))),
      ("modules_to_save", .null),
      ("peft_type", .string("LORA")),
      ("r", .number(JSONNumber(lora.rank))),
      ("rank_pattern", .object([])),
      ("revision", .null),
      ("target_modules", .array(targetModules.map { .string($0) })),
      ("task_type", .string("CAUSAL_LM")),
      ("use_dora", .bool(false)),
      ("use_rslora", .bool(lora.useRSLoRA)),
    ]
    return JSONValue.object(members.map { JSONMember(key: $0.0, value: $0.1) }).text(style: .python(indent: 2, sortKeys: true))
  }

  /// Reads `adapter_config.json`.
  ///
  /// - Parameter url: The file.
  /// - Throws: `QLoRAError.adapterConfiguration` naming the file and key.
  public init(contentsOf url: URL) throws(QLoRAError) {
    let bytes: [UInt8]
    do { bytes = [UInt8](try Data(contentsOf: url)) } catch { throw .io(file: url.path, reason: "cannot read: \(error)") }
    try self.init(jsonBytes: bytes, file: url.path)
  }

  /// Reads the text of an `adapter_config.json`.
  ///
  /// - Parameters:
  ///   - bytes: The file's bytes.
  ///   - file: The path that errors name.
  /// - Throws: `QLoRAError.adapterConfiguration` naming the file and key.
  public init(jsonBytes bytes: [UInt8], file: String) throws(QLoRAError) {
    let root: JSONValue
    do { root = try JSONParser.parse(bytes: bytes) } catch {
      throw .adapterConfiguration(file: file, reason: "invalid JSON: \(error)")
    }
    guard let members = root.members else { throw .adapterConfiguration(file: file, reason: "not a JSON object") }
    func value(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value }
    if let type = value("peft_type")?.stringValue, type != "LORA" {
      throw .adapterConfiguration(file: file, reason: "peft_type \(type) is not LORA")
    }
    guard let rank = value("r")?.numberValue?.intValue, rank > 0 else {
      throw .adapterConfiguration(file: file, reason: "key r: missing or not a positive integer")
    }
    guard let alpha = value("lora_alpha")?.numberValue?.doubleValue else {
      throw .adapterConfiguration(file: file, reason: "key lora_alpha: missing or not a number")
    }
    let dropout = value("lora_dropout")?.numberValue?.doubleValue ?? 0
    let rslora = value("use_rslora")?.boolValue ?? false
    if value("use_dora")?.boolValue == true {
      throw .adapterConfiguration(file: file, reason: "use_dora: DoRA adapters are not supported")
    }
    if value("fan_in_fan_out")?.boolValue == true {
      throw .adapterConfiguration(file: file, reason: "fan_in_fan_out: transposed (Conv1D) adapters are not supported")
    }
    let targets: [String]
    switch value("target_modules") {
    case .some(.string(let single)): targets = [single]
    case .some(.array(let list)):
      targets = list.compactMap(\.stringValue)
      guard targets.count == list.count else { throw .adapterConfiguration(file: file, reason: "target_modules: not strings") }
    default:
      // PEFT's default for llama, mistral and qwen2.
      targets = ["q_proj", "v_proj"]
    }
    var layers: [Int]? = nil
    if let list = value("layers_to_transform")?.elements { layers = list.compactMap { $0.numberValue?.intValue } }
    if let single = value("layers_to_transform")?.numberValue?.intValue { layers = [single] }
    lora = LoRAConfiguration(rank: rank, alpha: Float(alpha), dropout: Float(dropout), useRSLoRA: rslora)
    targetModules = targets
    layersToTransform = layers
    baseModel = value("base_model_name_or_path")?.stringValue
  }
}
