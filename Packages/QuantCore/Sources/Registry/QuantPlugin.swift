/// A bundle of formats and/or backends that installs itself into a registry.
///
/// Built-in modules and third-party packages both ship plugins; `bnb-patch` installs the plugins it
/// was built with before it reads the registry YAML, so the YAML can name their formats.
public protocol QuantPlugin: Sendable {
  /// A name for listings and messages (`"nf4"`, `"my-plugin"`).
  var name: String { get }
  /// The plugin API version this plugin was written against (see ``QuantRegistry/pluginAPIVersion``).
  var apiVersion: Int { get }
  /// Registers the plugin's formats and backends.
  ///
  /// - Parameter registry: The registry to add to.
  /// - Throws: `RegistryError` when a name is already taken.
  func register(into registry: QuantRegistry) throws(RegistryError)
}

extension QuantPlugin {
  /// Plugins target the current API version unless they say otherwise.
  public var apiVersion: Int { QuantRegistry.pluginAPIVersion }
}
