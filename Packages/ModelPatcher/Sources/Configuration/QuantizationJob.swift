public import Foundation
public import QuantCore

/// A quantization job: what to read, what to write and how (the contents of `quant.yaml`).
///
/// ```yaml
/// model: Examples/tiny-llama        # a Hugging Face folder, or a .safetensors file
/// output: out/tiny-llama-nf4        # a folder, or a .safetensors file
/// overwrite: true
/// quantization:                     # transformers' BitsAndBytesConfig field names
///   load_in_4bit: true
///   bnb_4bit_quant_type: nf4
///   bnb_4bit_use_double_quant: true
///   bnb_4bit_compute_dtype: bfloat16
/// rules:
///   - match: "model.layers.*.mlp.down_proj"
///     format: int8
/// ```
///
/// Every key is documented in `Docs/quant-yaml.md`. Relative paths are resolved against the folder
/// of the job file.
public struct QuantizationJob: Sendable {
  /// What to do with NaN or infinite weights.
  public enum NonFinitePolicy: String, Sendable, CaseIterable {
    /// Stop with an error naming the tensor (the default).
    case refuse
    /// Report a warning and quantize anyway.
    case warn
  }

  /// The input: a model folder or a `.safetensors` file.
  public var model: URL
  /// The output: a folder, or a `.safetensors` file.
  public var output: URL
  /// Whether an existing output may be replaced.
  public var overwrite = false
  /// The transformers configuration written into `config.json` (and the default format), if any.
  public var quantization: BitsAndBytesConfig?
  /// The default format for candidate tensors (a registry name or alias); derived from
  /// `quantization` when `nil`.
  public var format: String?
  /// Parameters for the default format (over the registry's defaults).
  public var parameters = FormatParameters()
  /// Where each of ``parameters`` is written in the job file (for errors that name the line).
  public var parameterLocations: [String: SourceLocation] = [:]
  /// Per-tensor rules, first match wins.
  public var rules: [TensorRule] = []
  /// The backend used for decoding (`auto`, `cpu`, `metal`, `reference`, …).
  public var backend = "auto"
  /// Tensors processed at once (0 = one per core).
  public var threads = 0
  /// The largest output shard in bytes.
  public var maximumShardSize = 5_000_000_000
  /// What to do with NaN or infinite weights.
  public var nonFinite = NonFinitePolicy.refuse
  /// Whether to copy the model folder's other files (tokenizer, generation config).
  public var copyOtherFiles = true
  /// A registry configuration to apply for this job (from a `registry:` section or file).
  public var registry: RegistryConfiguration?
  /// The job file, when the job came from one.
  public var file: String?

  /// The keys a job file may contain.
  public static let keys = [
    "model", "output", "overwrite", "quantization", "format", "parameters", "rules", "backend", "threads",
    "max_shard_size", "non_finite", "copy_files", "registry", "plugins",
  ]

  /// Plugins the job needs (`plugins: [my-plugin]`), with their positions; checked against the
  /// plugins installed in the registry before anything is read or written.
  public var requiredPlugins: [(name: String, location: SourceLocation?)] = []

  /// Creates a job in code.
  ///
  /// - Parameters:
  ///   - model: The input folder or file.
  ///   - output: The output folder or file.
  ///   - quantization: The transformers configuration.
  public init(model: URL, output: URL, quantization: BitsAndBytesConfig? = nil) {
    self.model = model
    self.output = output
    self.quantization = quantization
  }

  /// Reads a job file.
  ///
  /// - Parameter url: The YAML file.
  /// - Throws: `ConfigurationError` with `file:line:column` for every problem.
  public init(contentsOf url: URL) throws(ConfigurationError) {
    let document = try YAMLDocument(contentsOf: url)
    try self.init(yaml: document.root, baseFolder: url.deletingLastPathComponent())
    file = url.path
  }

  /// Reads a job from parsed YAML.
  ///
  /// - Parameters:
  ///   - root: The document's root mapping.
  ///   - baseFolder: The folder relative paths are resolved against.
  /// - Throws: `ConfigurationError` at the offending node.
  public init(yaml root: YAMLNode, baseFolder: URL) throws(ConfigurationError) {
    try root.requireKeys(in: QuantizationJob.keys, "the job file")
    guard let modelNode = root["model"] else {
      throw ConfigurationError(
        location: root.location, message: "the job file needs 'model:' (a model folder or .safetensors file)")
    }
    guard let outputNode = root["output"] else {
      throw ConfigurationError(location: root.location, message: "the job file needs 'output:' (a folder or .safetensors file)")
    }
    self.init(
      model: QuantizationJob.resolve(try modelNode.string("model"), against: baseFolder),
      output: QuantizationJob.resolve(try outputNode.string("output"), against: baseFolder))
    if let node = root["overwrite"] { overwrite = try node.bool("overwrite") }
    if let node = root["quantization"], !node.isNull {
      // `format:` and `parameters:` may also sit inside the quantization block.
      let mapping = try node.mapping("the quantization block")
      if mapping.contains(where: { !["format", "parameters"].contains($0.key) }) {
        quantization = try BitsAndBytesConfig(yaml: node, otherKeys: ["format", "parameters"])
      }
      if let value = node["format"] { format = try value.string("format") }
      if let value = node["parameters"], !value.isNull {
        parameters = try QuantizationJob.parameters(value)
        parameterLocations = try QuantizationJob.parameterLocations(value)
      }
    }
    if let node = root["format"] { format = try node.string("format") }
    if let node = root["parameters"], !node.isNull {
      parameters = try QuantizationJob.parameters(node).merged(over: parameters)
      parameterLocations.merge(try QuantizationJob.parameterLocations(node)) { _, top in top }
    }
    if let node = root["plugins"], !node.isNull {
      for item in try node.sequence("plugins") { requiredPlugins.append((try item.string("a plugin name"), item.location)) }
    }
    if let node = root["rules"], !node.isNull {
      rules = []
      for item in try node.sequence("rules") { rules.append(try TensorRule(yaml: item)) }
    }
    if let node = root["backend"] { backend = try node.string("backend") }
    if let node = root["threads"] {
      threads = try node.int("threads")
      guard threads >= 0 else { throw node.error("threads must be 0 (one per core) or positive") }
    }
    if let node = root["max_shard_size"] { maximumShardSize = try QuantizationJob.byteSize(node) }
    if let node = root["non_finite"] {
      let name = try node.string("non_finite", choices: NonFinitePolicy.allCases.map(\.rawValue))
      nonFinite = NonFinitePolicy(rawValue: name) ?? .refuse
    }
    if let node = root["copy_files"] { copyOtherFiles = try node.bool("copy_files") }
    if let node = root["registry"], !node.isNull {
      if (try? node.mapping("registry")) != nil {
        registry = try RegistryConfiguration(node: node)
      } else {
        registry = try RegistryConfiguration(
          contentsOf: QuantizationJob.resolve(try node.string("registry"), against: baseFolder))
      }
    }
    if quantization == nil && format == nil {
      throw ConfigurationError(
        location: root.location, message: "the job file needs a 'quantization:' block or a 'format:'",
        validChoices: ["quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4}", "format: int8"])
    }
    if let quantization, let node = root["quantization"] {
      do {
        try quantization.validate(file: node.file)
      } catch {
        throw ConfigurationError(
          location: node.location, message: error.message, found: error.found, validChoices: error.validChoices)
      }
    }
  }

  /// Parses a `parameters:` mapping.
  static func parameters(_ node: YAMLNode) throws(ConfigurationError) -> FormatParameters {
    var result = FormatParameters()
    for (key, _, value) in try node.mapping("parameters") { result[key] = value.value }
    return result
  }

  /// Where each key of a `parameters:` mapping is written.
  static func parameterLocations(_ node: YAMLNode) throws(ConfigurationError) -> [String: SourceLocation] {
    var result: [String: SourceLocation] = [:]
    for (key, keyNode, _) in try node.mapping("parameters") { result[key] = keyNode.location }
    return result
  }

  /// Parses a byte size: an integer, or a string such as `"5GB"`, `"500MB"`, `"2GiB"`.
  static func byteSize(_ node: YAMLNode) throws(ConfigurationError) -> Int {
    if let value = try? node.int("max_shard_size") {
      guard value > 0 else { throw node.error("max_shard_size must be positive") }
      return value
    }
    let text = try node.string("max_shard_size")
    guard let size = parseByteSize(text), size > 0 else {
      throw node.error("max_shard_size must be a byte count or a size such as 5GB, 500MB, 2GiB")
    }
    return size
  }

  /// `"5GB"` → 5 000 000 000, `"2GiB"` → 2 147 483 648, `"123"` → 123; `nil` when malformed, not
  /// finite, or too large for `Int` (`"infGB"`, `"1e30B"`).
  ///
  /// - Parameter text: The size.
  /// - Returns: The number of bytes.
  public static func parseByteSize(_ text: String) -> Int? {
    let units: [(String, Int)] = [
      ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30), ("TIB", 1 << 40),
      ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000), ("B", 1),
    ]
    let upper = text.uppercased().trimmingCharacters(in: .whitespaces)
    for (suffix, scale) in units where upper.hasSuffix(suffix) {
      guard let value = Double(upper.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0 else { return nil }
      return Int(exactly: (value * Double(scale)).rounded(.down))
    }
    return Int(upper)
  }

  /// A path from a job file: absolute (or `~`) as written, otherwise relative to `base`.
  package static func resolve(_ path: String, against base: URL) -> URL {
    let expanded = NSString(string: path).expandingTildeInPath
    if expanded.hasPrefix("/") { return URL(filePath: expanded).standardizedFileURL }
    return base.appending(path: expanded).standardizedFileURL
  }
}
