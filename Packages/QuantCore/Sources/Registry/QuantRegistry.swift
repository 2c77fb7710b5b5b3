/// The table of quantization formats and compute backends, configured by YAML.
///
/// Everything registers through the same public calls: built-in formats have no back door, so a
/// third-party format is a first-class citizen. A ``RegistryConfiguration`` (usually read from YAML)
/// enables or disables entries, sets default parameters and aliases, and picks the backend.
///
/// The registry is a thread-safe reference type; share one instance per process or per job.
public final class QuantRegistry: Sendable {
  /// The version of the plugin API (``QuantizationFormat``, ``KernelBackend``, ``QuantPlugin``).
  public static let pluginAPIVersion = 1

  /// A registered format and its configuration.
  public struct FormatEntry: Sendable {
    /// The format.
    public var format: any QuantizationFormat
    /// Other names accepted for it.
    public var aliases: [String]
    /// Whether configuration left it enabled.
    public var isEnabled: Bool
    /// Defaults from configuration (over the format's declared defaults).
    public var configuredDefaults: FormatParameters
    /// The plugin that registered it, if any.
    public var plugin: String?
  }

  /// A registered backend and its configuration.
  public struct BackendEntry: Sendable {
    /// The backend.
    public var backend: any KernelBackend
    /// Whether configuration left it enabled.
    public var isEnabled: Bool
    /// The plugin that registered it, if any.
    public var plugin: String?
  }

  struct State {
    var formats: [FormatEntry] = []
    var backends: [BackendEntry] = []
    var preference: BackendPreference = .automatic(order: BackendPreference.defaultAutomaticOrder)
    var threads = 0
    var installingPlugin: String?
    var plugins: [String] = []
  }

  private let state = Locked(State())

  /// Creates an empty registry (not even the reference backend).
  public init() {}

  /// Registers a format.
  ///
  /// - Parameters:
  ///   - format: The format; its `name` must be unique among names and aliases.
  ///   - aliases: Extra names.
  /// - Throws: `RegistryError.duplicateName`.
  public func register(_ format: any QuantizationFormat, aliases: [String] = []) throws(RegistryError) {
    try state.withLock { (state) throws(RegistryError) in
      for name in [format.name] + aliases
      where state.formats.contains(where: { $0.format.name == name || $0.aliases.contains(name) }) {
        throw RegistryError.duplicateName(name, kind: "format")
      }
      state.formats.append(
        FormatEntry(
          format: format, aliases: aliases, isEnabled: true, configuredDefaults: FormatParameters(),
          plugin: state.installingPlugin))
    }
  }

  /// Registers a backend.
  ///
  /// - Parameter backend: The backend; its `name` must be unique.
  /// - Throws: `RegistryError.duplicateName`.
  public func register(_ backend: any KernelBackend) throws(RegistryError) {
    try state.withLock { (state) throws(RegistryError) in
      if state.backends.contains(where: { $0.backend.name == backend.name }) {
        throw RegistryError.duplicateName(backend.name, kind: "backend")
      }
      state.backends.append(BackendEntry(backend: backend, isEnabled: true, plugin: state.installingPlugin))
    }
  }

  /// Installs a plugin (records which plugin registered what).
  ///
  /// - Parameter plugin: The plugin.
  /// - Throws: `RegistryError` from the plugin's registrations, or when its API version is newer than this one.
  public func install(_ plugin: any QuantPlugin) throws(RegistryError) {
    guard plugin.apiVersion <= QuantRegistry.pluginAPIVersion else {
      throw RegistryError.pluginAPIMismatch(
        plugin: plugin.name, required: plugin.apiVersion, supported: QuantRegistry.pluginAPIVersion)
    }
    state.withLock {
      $0.installingPlugin = plugin.name
      $0.plugins.append(plugin.name)
    }
    defer { state.withLock { $0.installingPlugin = nil } }
    try plugin.register(into: self)
  }

  /// The names of the installed plugins, in installation order.
  public var pluginNames: [String] { state.withLock { $0.plugins } }

  /// Every registered format, enabled or not, in registration order.
  public var formats: [FormatEntry] { state.withLock { $0.formats } }
  /// Every registered backend, in registration order.
  public var backends: [BackendEntry] { state.withLock { $0.backends } }
  /// The configured thread count for CPU work (0 = all cores).
  public var threads: Int { state.withLock { $0.threads } }
  /// The configured backend preference.
  public var backendPreference: BackendPreference { state.withLock { $0.preference } }

  /// The names accepted for formats (names and aliases), sorted.
  public var formatNames: [String] {
    formats.flatMap { [$0.format.name] + $0.aliases }.sorted()
  }

  /// Looks up an enabled format by name or alias.
  ///
  /// - Parameter name: A name or alias.
  /// - Returns: The format.
  /// - Throws: `RegistryError.unknownFormat` or `.disabled`.
  public func format(named name: String) throws(RegistryError) -> any QuantizationFormat {
    try formatEntry(named: name).format
  }

  /// Looks up a format's entry by name or alias.
  ///
  /// - Parameter name: A name or alias.
  /// - Throws: `RegistryError.unknownFormat` or `.disabled`.
  public func formatEntry(named name: String) throws(RegistryError) -> FormatEntry {
    let entries = formats
    guard let entry = entries.first(where: { $0.format.name == name || $0.aliases.contains(name) }) else {
      throw .unknownFormat(name, available: entries.filter(\.isEnabled).flatMap { [$0.format.name] + $0.aliases }.sorted())
    }
    guard entry.isEnabled else { throw .disabled(name, kind: "format") }
    return entry
  }

  /// The parameters a format uses by default here: declared defaults overlaid by configured ones.
  ///
  /// - Parameter name: A format name or alias.
  /// - Throws: `RegistryError` when the format is unknown or disabled.
  public func defaultParameters(forFormat name: String) throws(RegistryError) -> FormatParameters {
    let entry = try formatEntry(named: name)
    return entry.configuredDefaults.merged(over: entry.format.defaultParameters)
  }

  /// Looks up a backend by name (`auto` resolves through the preference).
  ///
  /// - Parameter name: A backend name or `auto`.
  /// - Throws: `RegistryError` when unknown, disabled or unavailable.
  public func backend(named name: String) throws(RegistryError) -> any KernelBackend {
    if name == "auto" { return try preferredBackend() }
    let entries = backends
    guard let entry = entries.first(where: { $0.backend.name == name }) else {
      throw .unknownBackend(name, available: ["auto"] + entries.map(\.backend.name))
    }
    guard entry.isEnabled else { throw .disabled(name, kind: "backend") }
    guard entry.backend.isAvailable else {
      throw .backendUnavailable(
        name, available: entries.filter { $0.isEnabled && $0.backend.isAvailable }.map(\.backend.name),
        reason: entry.backend.unavailableReason)
    }
    return entry.backend
  }

  /// The backend the configuration prefers: a fixed name, or the first enabled, available one in the
  /// `auto` order (Metal when available, else CPU, else the reference loops).
  ///
  /// - Throws: `RegistryError` when nothing usable is registered.
  public func preferredBackend() throws(RegistryError) -> any KernelBackend {
    let entries = backends
    switch backendPreference {
    case .named(let name):
      return try backend(named: name)
    case .automatic(let order):
      // Availability is asked lazily, in order: a backend after the first usable one is never probed
      // (Metal's availability compiles its shaders).
      for name in order {
        if let entry = entries.first(where: { $0.backend.name == name }), entry.isEnabled, entry.backend.isAvailable {
          return entry.backend
        }
      }
      if let first = entries.first(where: { $0.isEnabled && $0.backend.isAvailable }) { return first.backend }
      throw .unknownBackend("auto", available: entries.map(\.backend.name))
    }
  }

  /// Applies a configuration: enables/disables entries, sets defaults and aliases, the backend
  /// preference and the thread count. Names are checked against what is registered.
  ///
  /// - Parameter configuration: Parsed configuration (with source locations).
  /// - Throws: `ConfigurationError` at the offending YAML node for unknown names or bad parameters.
  public func apply(_ configuration: RegistryConfiguration) throws(ConfigurationError) {
    // One critical section: reading, checking and writing under the same lock, so a concurrent
    // `register` is never lost.
    try state.withLock { (state) throws(ConfigurationError) in
      var updated = state
      try QuantRegistry.apply(configuration, to: &updated)
      state = updated
    }
  }

  /// Checks `configuration` against `state` and applies it there (nothing changes on error).
  private static func apply(_ configuration: RegistryConfiguration, to state: inout State) throws(ConfigurationError) {
    let formatChoices = state.formats.map(\.format.name).sorted()
    let backendChoices = state.backends.map(\.backend.name).sorted()
    for setting in configuration.formats {
      guard
        let index = state.formats.firstIndex(where: { $0.format.name == setting.name || $0.aliases.contains(setting.name) })
      else {
        throw ConfigurationError(
          location: setting.location, message: "unknown format '\(setting.name)'", found: "'\(setting.name)'",
          validChoices: formatChoices)
      }
      let format = state.formats[index].format
      if let enabled = setting.enabled { state.formats[index].isEnabled = enabled }
      for parameter in setting.defaults {
        if let problem = format.parameterProblem(named: parameter.name, value: parameter.value) {
          throw ConfigurationError(
            location: problem.isUnknownName ? parameter.keyLocation : parameter.valueLocation, message: problem.message,
            found: problem.found, validChoices: problem.validChoices)
        }
        state.formats[index].configuredDefaults[parameter.name] = parameter.value
      }
      for (alias, location) in setting.aliases {
        let taken = state.formats.enumerated().contains { offset, entry in
          offset != index && (entry.format.name == alias || entry.aliases.contains(alias))
        }
        if taken {
          throw ConfigurationError(
            location: location, message: "alias '\(alias)' already names another format", found: "'\(alias)'")
        }
        if !state.formats[index].aliases.contains(alias) { state.formats[index].aliases.append(alias) }
      }
    }
    for setting in configuration.backends {
      guard let index = state.backends.firstIndex(where: { $0.backend.name == setting.name }) else {
        throw ConfigurationError(
          location: setting.location, message: "unknown backend '\(setting.name)'", found: "'\(setting.name)'",
          validChoices: backendChoices)
      }
      if let enabled = setting.enabled { state.backends[index].isEnabled = enabled }
    }
    if let (choice, location) = configuration.backend {
      if choice == "auto" {
        state.preference = .automatic(order: configuration.autoOrder?.names ?? BackendPreference.defaultAutomaticOrder)
      } else if backendChoices.contains(choice) {
        state.preference = .named(choice)
      } else {
        throw ConfigurationError(
          location: location, message: "unknown backend '\(choice)'", found: "'\(choice)'",
          validChoices: ["auto"] + backendChoices)
      }
    }
    if let order = configuration.autoOrder {
      for (name, location) in zip(order.names, order.locations) where !backendChoices.contains(name) {
        throw ConfigurationError(
          location: location, message: "unknown backend '\(name)' in auto_order", found: "'\(name)'", validChoices: backendChoices
        )
      }
      if case .automatic = state.preference { state.preference = .automatic(order: order.names) }
    }
    if let threads = configuration.threads { state.threads = threads }
  }
}

/// How the registry chooses a backend.
public enum BackendPreference: Sendable, Equatable {
  /// The first enabled, available backend in this order.
  case automatic(order: [String])
  /// Exactly this backend.
  case named(String)

  /// The `auto` order unless a configuration says otherwise (`auto_order:`). The one place this order
  /// is written.
  ///
  /// On Apple platforms the CPU kernels (NEON, Accelerate) come first: the `metal` backend has not yet
  /// been run on an Apple GPU (Docs/metal.md, "First run on a Mac"); `auto_order: [metal, cpu, reference]`
  /// or `backend: metal` selects it. Elsewhere Metal does not exist and the order is Metal, CPU, reference.
  public static let defaultAutomaticOrder: [String] = {
    #if canImport(Darwin)
      ["cpu", "metal", "reference"]
    #else
      ["metal", "cpu", "reference"]
    #endif
  }()
}
