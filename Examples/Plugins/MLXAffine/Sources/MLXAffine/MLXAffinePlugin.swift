public import QuantCore

/// Registers `affine4` and `affine8` (aliases `mlx4`, `mlx8`).
public struct MLXAffinePlugin: QuantPlugin {
  /// Creates the plugin.
  public init() {}

  /// `"mlx-affine"`.
  public var name: String { "mlx-affine" }

  /// Registers both bit widths.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(AffineFormat(bits: 4), aliases: ["mlx4"])
    try registry.register(AffineFormat(bits: 8), aliases: ["mlx8"])
  }
}
