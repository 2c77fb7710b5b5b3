public import Foundation
package import QuantCore

extension ModelConfiguration {
  /// The most decoder layers a `config.json` may declare (Llama 3.1 405B has 126).
  public static let maximumLayers = 4096

  /// Reads `config.json` from a model folder (or the file itself).
  ///
  /// - Parameter url: The model folder or its `config.json`.
  /// - Throws: `LanguageModelError` naming the file and key at fault.
  public init(contentsOf url: URL) throws(LanguageModelError) {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
    let file = exists && isDirectory.boolValue ? url.appending(path: "config.json") : url
    guard let data = FileManager.default.contents(atPath: file.path) else {
      throw .invalidConfiguration(file: file.path, key: "config.json", reason: "the file cannot be read")
    }
    try self.init(jsonBytes: [UInt8](data), file: file.path)
  }

  /// Parses the text of a `config.json`.
  ///
  /// - Parameters:
  ///   - jsonText: The file's contents.
  ///   - file: The name used in errors.
  /// - Throws: `LanguageModelError` naming the key at fault.
  public init(jsonText: String, file: String = "config.json") throws(LanguageModelError) {
    try self.init(jsonBytes: Array(jsonText.utf8), file: file)
  }

  init(jsonBytes: [UInt8], file: String) throws(LanguageModelError) {
    let root: JSONValue
    do {
      root = try JSONParser.parse(bytes: jsonBytes, allowsNonFiniteNumbers: true)
    } catch {
      throw .invalidConfiguration(file: file, key: "config.json", reason: "invalid JSON: \(error.description)")
    }
    guard root.members != nil else {
      throw .invalidConfiguration(file: file, key: "config.json", reason: "the top level is not an object")
    }
    try self.init(json: root, file: file)
  }

  package init(json root: JSONValue, file: String) throws(LanguageModelError) {
    let reader = ConfigReader(root: root, file: file)
    let architecture = try Self.architecture(of: reader)
    let defaults = ArchitectureDefaults(architecture)
    let hidden = try reader.positiveInt("hidden_size")
    let heads = try reader.positiveInt("num_attention_heads")
    let layers = try reader.positiveInt("num_hidden_layers")
    // Per-layer tables are built from this count before any weight is read: a file's 669E6 once spent
    // minutes there (found by the model-config fuzzer). The largest released models have a few hundred.
    guard layers <= Self.maximumLayers else {
      throw reader.fail("num_hidden_layers", "\(layers) exceeds the \(Self.maximumLayers) layers this runtime supports")
    }
    let keyValueHeads = try reader.optionalPositiveInt("num_key_value_heads") ?? heads
    guard heads % keyValueHeads == 0 else {
      throw .invalidConfiguration(
        file: file, key: "num_key_value_heads",
        reason: "\(keyValueHeads) does not divide num_attention_heads (\(heads))")
    }
    let headDimension = try reader.optionalPositiveInt("head_dim") ?? (defaults.headDimension ?? hidden / heads)
    guard headDimension > 0 else {
      throw .invalidConfiguration(file: file, key: "head_dim", reason: "hidden_size / num_attention_heads is 0")
    }
    let maxPositions = try reader.optionalPositiveInt("max_position_embeddings") ?? defaults.maxPositionEmbeddings
    let activationKey = reader.has("hidden_activation") ? "hidden_activation" : "hidden_act"
    let activationName = try reader.optionalString(activationKey) ?? defaults.activation
    let activation: Activation
    switch activationName {
    case "silu", "swish": activation = .silu
    case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": activation = .geluTanh
    case "gelu": activation = .gelu
    default:
      throw .invalidConfiguration(
        file: file, key: activationKey,
        reason: "activation '\(activationName)' is not supported (supported: silu, gelu_pytorch_tanh, gelu)")
    }
    var slidingWindow = try reader.optionalPositiveInt("sliding_window")
    if !reader.isWritten("sliding_window") { slidingWindow = defaults.slidingWindow }
    if architecture == .qwen2 || architecture == .qwen3, try reader.optionalBool("use_sliding_window") != true {
      slidingWindow = nil
    }
    let layerTypes = try Self.layerTypes(
      reader: reader, architecture: architecture, layers: layers, slidingWindow: slidingWindow)
    if layerTypes.contains(.sliding), slidingWindow == nil {
      throw .invalidConfiguration(
        file: file, key: "sliding_window", reason: "layer_types uses sliding attention but no window is set")
    }
    self.init(
      architecture: architecture,
      vocabularySize: try reader.positiveInt("vocab_size"),
      hiddenSize: hidden,
      intermediateSize: try reader.positiveInt("intermediate_size"),
      layerCount: layers,
      attentionHeads: heads,
      keyValueHeads: keyValueHeads,
      headDimension: headDimension,
      rmsNormEpsilon: try reader.optionalDouble("rms_norm_eps") ?? defaults.rmsNormEpsilon,
      rope: try RopeParser(reader: reader, architecture: architecture, maxPositions: maxPositions).parse(),
      maxPositionEmbeddings: maxPositions,
      attentionBias: architecture == .qwen2 ? true : (try reader.optionalBool("attention_bias") ?? false),
      mlpBias: architecture == .llama ? (try reader.optionalBool("mlp_bias") ?? false) : false,
      tieWordEmbeddings: try reader.optionalBool("tie_word_embeddings") ?? defaults.tieWordEmbeddings,
      eosTokenIDs: try reader.intList("eos_token_id"),
      bosTokenID: try reader.optionalInt("bos_token_id"),
      padTokenID: try reader.optionalInt("pad_token_id"),
      slidingWindow: layerTypes.contains(.sliding) ? slidingWindow : nil,
      layerTypes: layerTypes,
      activation: activation,
      attentionLogitSoftcap: architecture == .gemma2
        ? (reader.isWritten("attn_logit_softcapping") ? try reader.optionalDouble("attn_logit_softcapping") : 50) : nil,
      finalLogitSoftcap: architecture == .gemma2
        ? (reader.isWritten("final_logit_softcapping") ? try reader.optionalDouble("final_logit_softcapping") : 30) : nil,
      queryPreAttentionScalar: architecture == .gemma2
        ? (try reader.optionalDouble("query_pre_attn_scalar") ?? 256) : nil,
      dtypeName: try reader.optionalString(reader.has("dtype") ? "dtype" : "torch_dtype")
    )
  }

  private static func architecture(of reader: ConfigReader) throws(LanguageModelError) -> Architecture {
    let supported = Architecture.allCases.map(\.rawValue)
    if let type = try reader.optionalString("model_type") {
      guard let architecture = Architecture(rawValue: type) else {
        throw .unsupportedArchitecture(file: reader.file, found: type, supported: supported)
      }
      return architecture
    }
    let classes = try reader.optionalStringList("architectures") ?? []
    for name in classes {
      if let architecture = Architecture.allCases.first(where: { $0.className == name }) { return architecture }
    }
    throw .unsupportedArchitecture(
      file: reader.file, found: classes.isEmpty ? "(no model_type or architectures)" : classes.joined(separator: ", "),
      supported: supported)
  }

  private static func layerTypes(
    reader: ConfigReader, architecture: Architecture, layers: Int, slidingWindow: Int?
  ) throws(LanguageModelError) -> [LayerAttention] {
    if let names = try reader.optionalStringList("layer_types") {
      guard names.count == layers else {
        throw .invalidConfiguration(
          file: reader.file, key: "layer_types", reason: "\(names.count) entries for \(layers) layers")
      }
      var result: [LayerAttention] = []
      for name in names {
        guard let type = LayerAttention(rawValue: name) else {
          throw .invalidConfiguration(
            file: reader.file, key: "layer_types",
            reason: "'\(name)' is not supported (supported: full_attention, sliding_attention)")
        }
        result.append(type)
      }
      return result
    }
    guard slidingWindow != nil else { return Array(repeating: .full, count: layers) }
    switch architecture {
    case .gemma2: return (0..<layers).map { $0 % 2 == 0 ? .sliding : .full }
    case .qwen2, .qwen3:
      let first = try reader.optionalInt("max_window_layers") ?? 28
      return (0..<layers).map { $0 >= first ? .sliding : .full }
    case .mistral, .phi3: return Array(repeating: .sliding, count: layers)
    case .llama: return Array(repeating: .full, count: layers)
    }
  }
}

/// transformers' defaults for keys a `config.json` may omit.
struct ArchitectureDefaults {
  var rmsNormEpsilon = 1e-6
  var maxPositionEmbeddings = 2048
  var tieWordEmbeddings = false
  var activation = "silu"
  var headDimension: Int? = nil
  var slidingWindow: Int? = nil

  init(_ architecture: ModelConfiguration.Architecture) {
    switch architecture {
    case .llama: break
    case .mistral:
      maxPositionEmbeddings = 4096 * 32
      slidingWindow = 4096
    case .qwen2: maxPositionEmbeddings = 32768
    case .qwen3:
      maxPositionEmbeddings = 32768
      headDimension = 128
    case .phi3:
      rmsNormEpsilon = 1e-5
      maxPositionEmbeddings = 4096
    case .gemma2:
      maxPositionEmbeddings = 8192
      tieWordEmbeddings = true
      activation = "gelu_pytorch_tanh"
      headDimension = 256
      slidingWindow = 4096
    }
  }
}
