public import QuantCore

/// Registers the ``MetalBackend`` (`"metal"`) in a registry, on every platform (unavailable off Apple).
public struct MetalBackendPlugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"builtin-metal"`.
  public var name: String { "builtin-metal" }

  /// Registers the backend.
  ///
  /// - Parameter registry: The registry to add to.
  /// - Throws: `RegistryError.duplicateName` when a backend called `metal` exists.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(MetalBackend())
  }
}
