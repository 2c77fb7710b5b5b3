public import Foundation

/// The registry section of a YAML file: which formats and backends are enabled, their defaults,
/// aliases, the backend preference and the CPU thread count.
///
/// ```yaml
/// version: 1
/// backend: auto                 # auto | cpu | metal | reference | a plugin backend
/// auto_order: [metal, cpu, reference]
/// threads: 0                    # 0 = all cores
/// backends:
///   metal: { enabled: true }
/// formats:
///   nf4:
///     enabled: true
///     aliases: [normalfloat4]
///     defaults: { blocksize: 64, double_quant: false }
/// ```
///
/// Parsing checks structure and types; names are checked when the configuration is applied to a
/// registry (``QuantRegistry/apply(_:)``), because plugins may add names.
public struct RegistryConfiguration: Sendable {
  /// Settings for one format.
  public struct FormatSetting: Sendable {
    /// The format name or alias as written.
    public var name: String
    /// Where the name is.
    public var location: SourceLocation
    /// `enabled:` if given.
    public var enabled: Bool?
    /// `aliases:` with their locations.
    public var aliases: [(String, SourceLocation)]
    /// `defaults:` values with their locations.
    public var defaults: [ParameterSetting]
  }

  /// One `defaults:` entry: a parameter name and value with the positions of both.
  public struct ParameterSetting: Sendable {
    /// The parameter name.
    public var name: String
    /// The value.
    public var value: ConfigValue
    /// Where the name is.
    public var keyLocation: SourceLocation
    /// Where the value is.
    public var valueLocation: SourceLocation
  }

  /// Settings for one backend.
  public struct BackendSetting: Sendable {
    /// The backend name as written.
    public var name: String
    /// Where the name is.
    public var location: SourceLocation
    /// `enabled:` if given.
    public var enabled: Bool?
  }

  /// `backend:` and its location.
  public var backend: (String, SourceLocation)?
  /// `auto_order:` names and their locations.
  public var autoOrder: (names: [String], locations: [SourceLocation])?
  /// `threads:` (0 = all cores).
  public var threads: Int?
  /// Per-format settings, in document order.
  public var formats: [FormatSetting] = []
  /// Per-backend settings, in document order.
  public var backends: [BackendSetting] = []

  /// The keys a registry section may contain.
  public static let keys = ["version", "backend", "auto_order", "threads", "backends", "formats"]

  /// An empty configuration (changes nothing).
  public init() {}

  /// Parses a registry configuration from a YAML mapping node.
  ///
  /// - Parameter node: The mapping (a whole registry file, or a `registry:` section of a job file).
  /// - Throws: `ConfigurationError` at the first structural or type problem.
  public init(node: YAMLNode) throws(ConfigurationError) {
    try node.requireKeys(in: RegistryConfiguration.keys, "the registry configuration")
    if let version = node["version"] {
      _ = try version.int("version", choices: [1])
    }
    if let backend = node["backend"] {
      self.backend = (try backend.string("backend"), backend.location)
    }
    if let order = node["auto_order"] {
      let items = try order.sequence("auto_order")
      var names: [String] = []
      for item in items { names.append(try item.string("an auto_order entry")) }
      autoOrder = (names, items.map(\.location))
    }
    if let threads = node["threads"] {
      let value = try threads.int("threads")
      guard value >= 0 else { throw threads.error("threads must be 0 (all cores) or positive") }
      self.threads = value
    }
    if let backends = node["backends"], !backends.isNull {
      for (name, keyNode, value) in try backends.mapping("backends") {
        var setting = BackendSetting(name: name, location: keyNode.location)
        if !value.isNull {
          try value.requireKeys(in: ["enabled"], "backend '\(name)'")
          setting.enabled = try value["enabled"].map { (node) throws(ConfigurationError) in try node.bool("enabled") }
        }
        self.backends.append(setting)
      }
    }
    if let formats = node["formats"], !formats.isNull {
      for (name, keyNode, value) in try formats.mapping("formats") {
        var setting = FormatSetting(name: name, location: keyNode.location, aliases: [], defaults: [])
        if !value.isNull {
          try value.requireKeys(in: ["enabled", "aliases", "defaults"], "format '\(name)'")
          setting.enabled = try value["enabled"].map { (node) throws(ConfigurationError) in try node.bool("enabled") }
          if let aliases = value["aliases"] {
            for item in try aliases.sequence("aliases") { setting.aliases.append((try item.string("an alias"), item.location)) }
          }
          if let defaults = value["defaults"], !defaults.isNull {
            for (key, keyNode, valueNode) in try defaults.mapping("defaults of format '\(name)'") {
              setting.defaults.append(
                ParameterSetting(
                  name: key, value: valueNode.value, keyLocation: keyNode.location, valueLocation: valueNode.location))
            }
          }
        }
        self.formats.append(setting)
      }
    }
  }

  /// Reads a registry configuration file.
  ///
  /// - Parameter url: A YAML file.
  /// - Throws: `ConfigurationError` for unreadable, malformed or mistyped content.
  public init(contentsOf url: URL) throws(ConfigurationError) {
    try self.init(node: YAMLDocument(contentsOf: url).root)
  }
}
