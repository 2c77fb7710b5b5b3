public import QuantCore

/// Registers ``FP8Format/e4m3`` as `fp8_e4m3` (aliases `fp8`, `float8_e4m3fn`, `fine_grained_fp8`) and
/// ``FP8Format/e5m2`` as `fp8_e5m2` (alias `float8_e5m2`).
public struct FP8Plugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"builtin-fp8"`.
  public var name: String { "builtin-fp8" }

  /// Registers both encodings.
  ///
  /// - Parameter registry: The registry to add to.
  /// - Throws: `RegistryError.duplicateName` when a name is taken.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(FP8Format.e4m3, aliases: ["fp8", "float8_e4m3fn", "fine_grained_fp8"])
    try registry.register(FP8Format.e5m2, aliases: ["float8_e5m2"])
  }
}
