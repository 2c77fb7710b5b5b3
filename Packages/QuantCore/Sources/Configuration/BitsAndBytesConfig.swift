/// transformers' `BitsAndBytesConfig`: the `quantization_config` of a bitsandbytes model.
///
/// Field names in JSON and YAML are transformers' own (`load_in_4bit`, `bnb_4bit_quant_type`, …).
/// Reading accepts both `load_in_4bit` and `_load_in_4bit`; writing produces exactly
/// `BitsAndBytesConfig.to_dict()` of transformers 5.24 (spec §4.3), which `config.json` stores with
/// sorted keys.
///
/// **Defaults are transformers' own**, so that a file means the same thing here and there: a config
/// that sets only `load_in_4bit: true` is **FP4** without double quantization (transformers'
/// `bnb_4bit_quant_type="fp4"`), even though NF4 is what most people want for LLMs. Say what you mean
/// with the factories, which take the quant type as a required, typed argument:
///
/// ```swift
/// var config = BitsAndBytesConfig.fourBit(.nf4, doubleQuant: true)
/// config.bnb4bitComputeDType = .bfloat16          // every field is a var: set any, in any order
/// let int8 = BitsAndBytesConfig.eightBit(threshold: 6.0)
/// ```
///
/// The formats that write bitsandbytes checkpoints (NF4, FP4, INT8) build this block themselves
/// (``QuantizationFormat/modelConfiguration(parameters:requested:)``); the model patcher only passes
/// the job's block along.
public struct BitsAndBytesConfig: Codable, Sendable, Equatable {
  /// `bnb_4bit_quant_type`: the 4-bit codebooks bitsandbytes knows.
  public enum QuantType: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// 4-bit NormalFloat (recommended for LLMs by bitsandbytes).
    case nf4
    /// bitsandbytes' 4-bit float (transformers' default).
    case fp4

    /// The name as written in `config.json` (`"nf4"`).
    public var description: String { rawValue }
  }

  /// `load_in_8bit`: LLM.int8 weights.
  public var loadIn8bit: Bool
  /// `load_in_4bit`: 4-bit weights (`bnb_4bit_quant_type`).
  public var loadIn4bit: Bool
  /// `llm_int8_threshold`: the activation outlier threshold (default 6.0).
  public var llmInt8Threshold: Double
  /// `llm_int8_skip_modules`: modules left unquantized; `nil` means transformers' defaults.
  public var llmInt8SkipModules: [String]?
  /// `llm_int8_enable_fp32_cpu_offload` (recorded, not used here).
  public var llmInt8EnableFP32CPUOffload: Bool
  /// `llm_int8_has_fp16_weight` (recorded, not used here).
  public var llmInt8HasFP16Weight: Bool
  /// `bnb_4bit_compute_dtype`; `nil` is written as `"float32"`, as transformers does.
  public var bnb4bitComputeDType: DType?
  /// `bnb_4bit_quant_type`: ``QuantType/nf4`` or ``QuantType/fp4`` (transformers' default is `fp4`).
  public var bnb4bitQuantType: QuantType
  /// `bnb_4bit_use_double_quant`: double-quantized absmax.
  public var bnb4bitUseDoubleQuant: Bool
  /// `bnb_4bit_quant_storage`; `nil` is `uint8`.
  public var bnb4bitQuantStorage: DType?

  /// The storage dtypes transformers accepts for `bnb_4bit_quant_storage`.
  public static let quantStorageChoices: [DType] = [.float16, .float32, .int8, .uint8, .float64, .bfloat16]
  /// The 4-bit quant types bitsandbytes knows.
  public static let quantTypeChoices = QuantType.allCases.map(\.rawValue)

  /// Creates a configuration with transformers' defaults for every unspecified field.
  ///
  /// Prefer ``fourBit(_:doubleQuant:computeDType:quantStorage:skipModules:)`` and
  /// ``eightBit(threshold:skipModules:)``: this initializer mirrors transformers' keyword list (so its
  /// arguments come in that order) and its `loadIn4bit: true` alone means FP4, as in transformers.
  ///
  /// - Parameters:
  ///   - loadIn8bit: `load_in_8bit`.
  ///   - loadIn4bit: `load_in_4bit`.
  ///   - llmInt8Threshold: `llm_int8_threshold`.
  ///   - llmInt8SkipModules: `llm_int8_skip_modules`.
  ///   - llmInt8EnableFP32CPUOffload: `llm_int8_enable_fp32_cpu_offload`.
  ///   - llmInt8HasFP16Weight: `llm_int8_has_fp16_weight`.
  ///   - bnb4bitComputeDType: `bnb_4bit_compute_dtype`.
  ///   - bnb4bitQuantType: `bnb_4bit_quant_type`.
  ///   - bnb4bitUseDoubleQuant: `bnb_4bit_use_double_quant`.
  ///   - bnb4bitQuantStorage: `bnb_4bit_quant_storage`.
  public init(
    loadIn8bit: Bool = false, loadIn4bit: Bool = false, llmInt8Threshold: Double = 6.0, llmInt8SkipModules: [String]? = nil,
    llmInt8EnableFP32CPUOffload: Bool = false, llmInt8HasFP16Weight: Bool = false, bnb4bitComputeDType: DType? = nil,
    bnb4bitQuantType: QuantType = .fp4, bnb4bitUseDoubleQuant: Bool = false, bnb4bitQuantStorage: DType? = nil
  ) {
    self.loadIn8bit = loadIn8bit
    self.loadIn4bit = loadIn4bit
    self.llmInt8Threshold = llmInt8Threshold
    self.llmInt8SkipModules = llmInt8SkipModules
    self.llmInt8EnableFP32CPUOffload = llmInt8EnableFP32CPUOffload
    self.llmInt8HasFP16Weight = llmInt8HasFP16Weight
    self.bnb4bitComputeDType = bnb4bitComputeDType
    self.bnb4bitQuantType = bnb4bitQuantType
    self.bnb4bitUseDoubleQuant = bnb4bitUseDoubleQuant
    self.bnb4bitQuantStorage = bnb4bitQuantStorage
  }

  /// The initializer with the quant type as a string, for code written before ``QuantType`` existed.
  ///
  /// - Precondition: `bnb4bitQuantType` is `"nf4"` or `"fp4"` (a string literal in source code; read
  ///   user input with ``QuantType/init(rawValue:)`` and handle `nil`).
  @available(*, deprecated, message: "pass the quant type as .nf4 or .fp4, or use BitsAndBytesConfig.fourBit(_:)")
  public init(
    loadIn8bit: Bool = false, loadIn4bit: Bool = false, llmInt8Threshold: Double = 6.0, llmInt8SkipModules: [String]? = nil,
    llmInt8EnableFP32CPUOffload: Bool = false, llmInt8HasFP16Weight: Bool = false, bnb4bitComputeDType: DType? = nil,
    bnb4bitQuantType: String, bnb4bitUseDoubleQuant: Bool = false, bnb4bitQuantStorage: DType? = nil
  ) {
    guard let quantType = QuantType(rawValue: bnb4bitQuantType) else {
      preconditionFailure("unknown bnb_4bit_quant_type '\(bnb4bitQuantType)'; use .nf4 or .fp4")
    }
    self.init(
      loadIn8bit: loadIn8bit, loadIn4bit: loadIn4bit, llmInt8Threshold: llmInt8Threshold, llmInt8SkipModules: llmInt8SkipModules,
      llmInt8EnableFP32CPUOffload: llmInt8EnableFP32CPUOffload, llmInt8HasFP16Weight: llmInt8HasFP16Weight,
      bnb4bitComputeDType: bnb4bitComputeDType, bnb4bitQuantType: quantType, bnb4bitUseDoubleQuant: bnb4bitUseDoubleQuant,
      bnb4bitQuantStorage: bnb4bitQuantStorage)
  }

  /// The field names, as transformers spells them.
  public enum CodingKeys: String, CodingKey, CaseIterable {
    /// `quant_method`.
    case quantMethod = "quant_method"
    /// `load_in_8bit`.
    case loadIn8bit = "load_in_8bit"
    /// `load_in_4bit`.
    case loadIn4bit = "load_in_4bit"
    /// `_load_in_8bit` (the private copy transformers also writes).
    case privateLoadIn8bit = "_load_in_8bit"
    /// `_load_in_4bit`.
    case privateLoadIn4bit = "_load_in_4bit"
    /// `llm_int8_threshold`.
    case llmInt8Threshold = "llm_int8_threshold"
    /// `llm_int8_skip_modules`.
    case llmInt8SkipModules = "llm_int8_skip_modules"
    /// `llm_int8_enable_fp32_cpu_offload`.
    case llmInt8EnableFP32CPUOffload = "llm_int8_enable_fp32_cpu_offload"
    /// `llm_int8_has_fp16_weight`.
    case llmInt8HasFP16Weight = "llm_int8_has_fp16_weight"
    /// `bnb_4bit_compute_dtype`.
    case bnb4bitComputeDType = "bnb_4bit_compute_dtype"
    /// `bnb_4bit_quant_type`.
    case bnb4bitQuantType = "bnb_4bit_quant_type"
    /// `bnb_4bit_use_double_quant`.
    case bnb4bitUseDoubleQuant = "bnb_4bit_use_double_quant"
    /// `bnb_4bit_quant_storage`.
    case bnb4bitQuantStorage = "bnb_4bit_quant_storage"
  }

  /// Decodes from transformers' field names (either spelling of `load_in_*`).
  ///
  /// - Parameter decoder: The decoder.
  /// - Throws: `DecodingError` for mistyped fields or an unknown dtype.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    func decodeDType(_ key: CodingKeys) throws -> DType? {
      guard let name = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
      guard let dtype = DType(torchName: name) else {
        throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "unknown dtype '\(name)'")
      }
      return dtype
    }
    self.init(
      loadIn8bit: try container.decodeIfPresent(Bool.self, forKey: .loadIn8bit)
        ?? container.decodeIfPresent(Bool.self, forKey: .privateLoadIn8bit) ?? false,
      loadIn4bit: try container.decodeIfPresent(Bool.self, forKey: .loadIn4bit)
        ?? container.decodeIfPresent(Bool.self, forKey: .privateLoadIn4bit) ?? false,
      llmInt8Threshold: try container.decodeIfPresent(Double.self, forKey: .llmInt8Threshold) ?? 6.0,
      llmInt8SkipModules: try container.decodeIfPresent([String].self, forKey: .llmInt8SkipModules),
      llmInt8EnableFP32CPUOffload: try container.decodeIfPresent(Bool.self, forKey: .llmInt8EnableFP32CPUOffload) ?? false,
      llmInt8HasFP16Weight: try container.decodeIfPresent(Bool.self, forKey: .llmInt8HasFP16Weight) ?? false,
      bnb4bitComputeDType: try decodeDType(.bnb4bitComputeDType),
      bnb4bitQuantType: try container.decodeIfPresent(QuantType.self, forKey: .bnb4bitQuantType) ?? .fp4,
      bnb4bitUseDoubleQuant: try container.decodeIfPresent(Bool.self, forKey: .bnb4bitUseDoubleQuant) ?? false,
      bnb4bitQuantStorage: try decodeDType(.bnb4bitQuantStorage))
  }

  /// Encodes every field transformers writes.
  ///
  /// - Parameter encoder: The encoder.
  /// - Throws: What the encoder throws.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode("bitsandbytes", forKey: .quantMethod)
    try container.encode(loadIn8bit, forKey: .privateLoadIn8bit)
    try container.encode(loadIn4bit, forKey: .privateLoadIn4bit)
    try container.encode(llmInt8Threshold, forKey: .llmInt8Threshold)
    try container.encode(llmInt8SkipModules, forKey: .llmInt8SkipModules)
    try container.encode(llmInt8EnableFP32CPUOffload, forKey: .llmInt8EnableFP32CPUOffload)
    try container.encode(llmInt8HasFP16Weight, forKey: .llmInt8HasFP16Weight)
    try container.encode(bnb4bitQuantType, forKey: .bnb4bitQuantType)
    try container.encode(bnb4bitUseDoubleQuant, forKey: .bnb4bitUseDoubleQuant)
    try container.encode((bnb4bitComputeDType ?? .float32).rawValue, forKey: .bnb4bitComputeDType)
    try container.encode((bnb4bitQuantStorage ?? .uint8).rawValue, forKey: .bnb4bitQuantStorage)
    try container.encode(loadIn4bit, forKey: .loadIn4bit)
    try container.encode(loadIn8bit, forKey: .loadIn8bit)
  }

  /// Checks the combination as transformers' `post_init` does.
  ///
  /// - Parameter file: The file the configuration came from, for messages.
  /// - Throws: `ConfigurationError` for both or neither of `load_in_4bit`/`load_in_8bit`, a storage
  ///   dtype transformers refuses, or an `llm_int8_skip_modules` entry ``SkipModulePattern`` refuses.
  public func validate(file: String) throws(ConfigurationError) {
    if loadIn4bit && loadIn8bit {
      throw ConfigurationError(
        location: nil, file: file, message: "load_in_4bit and load_in_8bit are both true, but only one can be used")
    }
    if !loadIn4bit && !loadIn8bit {
      throw ConfigurationError(
        location: nil, file: file, message: "the quantization block sets neither load_in_4bit nor load_in_8bit",
        validChoices: ["load_in_4bit: true", "load_in_8bit: true"])
    }
    for entry in llmInt8SkipModules ?? [] {
      do throws(SkipModulePattern.Problem) {
        _ = try SkipModulePattern(entry)
      } catch {
        throw ConfigurationError(
          location: nil, file: file, message: "the llm_int8_skip_modules entry \(error.message)", found: "'\(entry)'")
      }
    }
    if let storage = bnb4bitQuantStorage, !BitsAndBytesConfig.quantStorageChoices.contains(storage) {
      throw ConfigurationError(
        location: nil, file: file, message: "unsupported bnb_4bit_quant_storage", found: "'\(storage)'",
        validChoices: BitsAndBytesConfig.quantStorageChoices.map(\.rawValue))
    }
  }

  /// The registry name of the format this configuration quantizes with (`nf4`, `fp4` or `int8`).
  public var formatName: String { loadIn8bit ? "int8" : bnb4bitQuantType.rawValue }

  /// The format parameters this configuration implies (`double_quant`, `quant_storage` for 4-bit;
  /// `threshold` for 8-bit).
  public var formatParameters: FormatParameters {
    if loadIn8bit { return FormatParameters(["threshold": .double(llmInt8Threshold)]) }
    return FormatParameters([
      "double_quant": .bool(bnb4bitUseDoubleQuant), "quant_storage": .string((bnb4bitQuantStorage ?? .uint8).rawValue),
    ])
  }

  // MARK: - JSON

  /// The `quantization_config` object exactly as transformers' `to_dict()` produces it (every field, in
  /// its order; `config.json` sorts the keys).
  public var configValue: ConfigValue {
    .object([
      ("quant_method", .string("bitsandbytes")),
      ("_load_in_8bit", .bool(loadIn8bit)),
      ("_load_in_4bit", .bool(loadIn4bit)),
      ("llm_int8_threshold", .double(llmInt8Threshold)),
      ("llm_int8_skip_modules", llmInt8SkipModules.map { .array($0.map(ConfigValue.string)) } ?? .null),
      ("llm_int8_enable_fp32_cpu_offload", .bool(llmInt8EnableFP32CPUOffload)),
      ("llm_int8_has_fp16_weight", .bool(llmInt8HasFP16Weight)),
      ("bnb_4bit_quant_type", .string(bnb4bitQuantType.rawValue)),
      ("bnb_4bit_use_double_quant", .bool(bnb4bitUseDoubleQuant)),
      ("bnb_4bit_compute_dtype", .string((bnb4bitComputeDType ?? .float32).rawValue)),
      ("bnb_4bit_quant_storage", .string((bnb4bitQuantStorage ?? .uint8).rawValue)),
      ("load_in_4bit", .bool(loadIn4bit)),
      ("load_in_8bit", .bool(loadIn8bit)),
    ])
  }

  /// ``configValue`` as JSON.
  package var jsonValue: JSONValue { configValue.jsonValue }

  // MARK: - YAML

  /// Reads the `quantization:` block of a job file, with positions in errors.
  ///
  /// - Parameters:
  ///   - node: The mapping.
  ///   - otherKeys: Keys the caller handles itself (allowed, ignored here).
  /// - Throws: `ConfigurationError` at the offending key or value.
  public init(yaml node: YAMLNode, otherKeys: [String] = []) throws(ConfigurationError) {
    try node.requireKeys(in: CodingKeys.allCases.map(\.rawValue) + otherKeys, "the quantization block")
    self.init()
    if let value = node["quant_method"] {
      _ = try value.string("quant_method", choices: ["bitsandbytes"])
    }
    if let value = node["load_in_8bit"] ?? node["_load_in_8bit"] { loadIn8bit = try value.bool("load_in_8bit") }
    if let value = node["load_in_4bit"] ?? node["_load_in_4bit"] { loadIn4bit = try value.bool("load_in_4bit") }
    if let value = node["llm_int8_threshold"] {
      llmInt8Threshold = try value.double("llm_int8_threshold")
      guard llmInt8Threshold >= 0, llmInt8Threshold.isFinite else {
        throw value.error("llm_int8_threshold must be a finite number, 0 or positive")
      }
    }
    if let value = node["llm_int8_skip_modules"], !value.isNull {
      let items = (try? value.sequence("llm_int8_skip_modules")) ?? [value]
      llmInt8SkipModules = try value.strings("llm_int8_skip_modules")
      for item in items {
        let entry = try item.string("an item of llm_int8_skip_modules")
        do throws(SkipModulePattern.Problem) {
          _ = try SkipModulePattern(entry)
        } catch {
          throw item.error("this llm_int8_skip_modules entry \(error.message)")
        }
      }
    }
    if let value = node["llm_int8_enable_fp32_cpu_offload"] {
      llmInt8EnableFP32CPUOffload = try value.bool("llm_int8_enable_fp32_cpu_offload")
    }
    if let value = node["llm_int8_has_fp16_weight"] { llmInt8HasFP16Weight = try value.bool("llm_int8_has_fp16_weight") }
    if let value = node["bnb_4bit_compute_dtype"], !value.isNull {
      bnb4bitComputeDType = try BitsAndBytesConfig.dtype(
        value, "bnb_4bit_compute_dtype", choices: [.float32, .float16, .bfloat16])
    }
    if let value = node["bnb_4bit_quant_type"] {
      let name = try value.string("bnb_4bit_quant_type", choices: BitsAndBytesConfig.quantTypeChoices)
      bnb4bitQuantType = QuantType(rawValue: name) ?? .fp4
    }
    if let value = node["bnb_4bit_use_double_quant"] { bnb4bitUseDoubleQuant = try value.bool("bnb_4bit_use_double_quant") }
    if let value = node["bnb_4bit_quant_storage"], !value.isNull {
      bnb4bitQuantStorage = try BitsAndBytesConfig.dtype(
        value, "bnb_4bit_quant_storage", choices: BitsAndBytesConfig.quantStorageChoices)
    }
    if loadIn4bit && loadIn8bit {
      throw node.error("load_in_4bit and load_in_8bit are both true, but only one can be used")
    }
  }

  private static func dtype(_ node: YAMLNode, _ what: String, choices: [DType]) throws(ConfigurationError) -> DType {
    let name = try node.string(what)
    guard let dtype = DType(torchName: name), choices.contains(dtype) else {
      throw node.error("invalid value for \(what)", validChoices: choices.map(\.rawValue))
    }
    return dtype
  }
}

// MARK: - Factories

extension BitsAndBytesConfig {
  /// A 4-bit configuration (`load_in_4bit: true`) with the quant type said out loud.
  ///
  /// - Parameters:
  ///   - quantType: `.nf4` (bitsandbytes' recommendation for LLMs) or `.fp4`.
  ///   - doubleQuant: `bnb_4bit_use_double_quant` (transformers' default: `false`).
  ///   - computeDType: `bnb_4bit_compute_dtype` (`nil`: float32, as transformers).
  ///   - quantStorage: `bnb_4bit_quant_storage` (`nil`: uint8).
  ///   - skipModules: `llm_int8_skip_modules` (`nil`: transformers' defaults).
  /// - Returns: The configuration; every other field is transformers' default.
  public static func fourBit(
    _ quantType: QuantType, doubleQuant: Bool = false, computeDType: DType? = nil, quantStorage: DType? = nil,
    skipModules: [String]? = nil
  ) -> BitsAndBytesConfig {
    BitsAndBytesConfig(
      loadIn4bit: true, llmInt8SkipModules: skipModules, bnb4bitComputeDType: computeDType, bnb4bitQuantType: quantType,
      bnb4bitUseDoubleQuant: doubleQuant, bnb4bitQuantStorage: quantStorage)
  }

  /// An LLM.int8 configuration (`load_in_8bit: true`).
  ///
  /// - Parameters:
  ///   - threshold: `llm_int8_threshold`, the activation outlier threshold (transformers' default: 6.0).
  ///   - skipModules: `llm_int8_skip_modules` (`nil`: transformers' defaults).
  /// - Returns: The configuration; every other field is transformers' default.
  public static func eightBit(threshold: Double = 6.0, skipModules: [String]? = nil) -> BitsAndBytesConfig {
    BitsAndBytesConfig(loadIn8bit: true, llmInt8Threshold: threshold, llmInt8SkipModules: skipModules)
  }

  /// The starting point for a format that writes this block: `requested` (the job's own block) when it
  /// is of the same family (4-bit or 8-bit), else transformers' defaults keeping only the settings both
  /// families share (threshold, skipped modules, offload, fp16 weights), for example for `--format int8`
  /// over a 4-bit job. The family flags are set.
  ///
  /// - Parameters:
  ///   - fourBit: Whether the format is a 4-bit one.
  ///   - requested: The job's `quantization:` block, if any.
  /// - Returns: The configuration for the format to complete.
  public static func base(fourBit: Bool, requested: BitsAndBytesConfig?) -> BitsAndBytesConfig {
    var config = requested ?? BitsAndBytesConfig()
    if let requested, requested.loadIn4bit != fourBit {
      config = BitsAndBytesConfig(
        llmInt8Threshold: requested.llmInt8Threshold, llmInt8SkipModules: requested.llmInt8SkipModules,
        llmInt8EnableFP32CPUOffload: requested.llmInt8EnableFP32CPUOffload,
        llmInt8HasFP16Weight: requested.llmInt8HasFP16Weight)
    }
    config.loadIn4bit = fourBit
    config.loadIn8bit = !fourBit
    return config
  }
}
