public import QuantCore

/// Registers ``Blockwise8Format`` (`blockwise8`, alias `dynamic8`) into a registry.
public struct DoubleQuantPlugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"double-quant"`.
  public var name: String { "double-quant" }

  /// Registers the 8-bit blockwise format.
  ///
  /// - Parameter registry: The registry.
  /// - Throws: `RegistryError.duplicateName` when a name is taken.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(Blockwise8Format(), aliases: ["dynamic8"])
  }
}
