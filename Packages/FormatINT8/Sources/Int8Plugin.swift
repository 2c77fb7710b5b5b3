public import QuantCore

/// Registers ``Int8Format`` as `int8`, with the aliases `llm_int8`, `int8_rowwise` and `load_in_8bit`.
public struct Int8Plugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"builtin-int8"`.
  public var name: String { "builtin-int8" }

  /// Registers the format.
  ///
  /// - Parameter registry: The registry to add to.
  /// - Throws: `RegistryError.duplicateName` when a name is taken.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(Int8Format(), aliases: ["llm_int8", "int8_rowwise", "load_in_8bit"])
  }
}
