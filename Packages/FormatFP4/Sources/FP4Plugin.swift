public import QuantCore

/// Registers ``FP4Format`` (alias `bnb-fp4`) into a registry.
public struct FP4Plugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"fp4"`.
  public var name: String { "fp4" }

  /// Registers the FP4 format.
  ///
  /// - Parameter registry: The registry.
  /// - Throws: `RegistryError.duplicateName` when `fp4` or `bnb-fp4` is taken.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(FP4Format(), aliases: ["bnb-fp4"])
  }
}
