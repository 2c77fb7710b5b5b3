public import QuantCore

/// Registers the ``MetalBackend`` (`"metal"`) in a registry, on every platform (unavailable off Apple).
public struct MetalBackendPlugin: QuantPlugin {
  private let encoder: (any KernelBackend)?

  /// Creates the plugin.
  ///
  /// - Parameter encoder: The backend whose encoders the Metal backend quantizes with (the CPU backend
  ///   in the standard registry); `nil` leaves quantization to the formats' reference encoders.
  public init(encoder: (any KernelBackend)? = nil) {
    self.encoder = encoder
  }

  /// `"builtin-metal"`.
  public var name: String { "builtin-metal" }

  /// Registers the backend.
  ///
  /// - Parameter registry: The registry to add to.
  /// - Throws: `RegistryError.duplicateName` when a backend called `metal` exists.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(MetalBackend(encoder: encoder))
  }
}
