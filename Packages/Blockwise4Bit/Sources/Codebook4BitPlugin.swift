public import QuantCore

/// Registers ``Codebook4BitFormat`` of `Codebook` under its name and aliases (NF4's and FP4's plugins
/// are this type).
public struct Codebook4BitPlugin<Codebook: FourBitCodebook>: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// The codebook's quant type (`"nf4"`).
  public var name: String { Codebook.name }

  /// Registers the format.
  ///
  /// - Parameter registry: The registry.
  /// - Throws: `RegistryError.duplicateName` when the name or an alias is taken.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(Codebook4BitFormat<Codebook>(), aliases: Codebook.aliases)
  }
}
