public import QuantCore

/// Registers the ``CPUBackend`` (`"cpu"`) in a registry.
public struct CPUBackendPlugin: QuantPlugin {
  /// The backend this plugin registers.
  public var backend: CPUBackend

  /// Creates the plugin.
  ///
  /// - Parameter backend: The configured backend (defaults: all cores, exact mode, best SIMD).
  public init(backend: CPUBackend = CPUBackend()) {
    self.backend = backend
  }

  /// `"builtin-cpu"`.
  public var name: String { "builtin-cpu" }

  /// Registers the backend.
  ///
  /// - Parameter registry: The registry to add to.
  /// - Throws: `RegistryError.duplicateName` when a backend called `cpu` exists.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(backend)
  }
}
