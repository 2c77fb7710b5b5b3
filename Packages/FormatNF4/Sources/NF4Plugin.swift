public import QuantCore

/// Registers ``NF4Format`` (alias `bnb-nf4`) into a registry.
public struct NF4Plugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"nf4"`.
  public var name: String { "nf4" }

  /// Registers the NF4 format.
  ///
  /// - Parameter registry: The registry.
  /// - Throws: `RegistryError.duplicateName` when `nf4` or `bnb-nf4` is taken.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(NF4Format(), aliases: ["bnb-nf4"])
  }
}
