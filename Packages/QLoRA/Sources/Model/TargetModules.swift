/// Which linears get adapters, by PEFT's rules: a list entry matches a module path equal to it or ending in
/// `"." + entry`; `all-linear` is every linear except the output layer. A layer range restricts further.
public struct TargetModules: Sendable, Equatable {
  /// The names (`q_proj`, `model.layers.0.mlp.up_proj`, …), or `nil` for `all-linear`.
  public var names: [String]?
  /// The decoder layers to adapt (`nil`: all), as PEFT's `layers_to_transform`.
  public var layers: [Int]?

  /// Creates a selection.
  ///
  /// - Parameters:
  ///   - names: Module names; `["all-linear"]` or `nil` selects every linear but `lm_head`.
  ///   - layers: The layer indices to adapt.
  public init(names: [String]?, layers: [Int]? = nil) {
    self.names = names == ["all-linear"] ? nil : names
    self.layers = layers
  }

  /// Every linear of every block.
  public static let allLinear = TargetModules(names: nil)

  /// The last `count` layers of a `layerCount`-layer model (`mlx_lm.lora --num-layers`).
  ///
  /// - Parameters:
  ///   - count: Layers from the top.
  ///   - layerCount: The model's layers.
  /// - Returns: Their indices.
  public static func lastLayers(_ count: Int, of layerCount: Int) -> [Int] {
    Array(max(0, layerCount - count)..<layerCount)
  }

  /// Whether the module path `name` of layer `layer` is selected.
  ///
  /// - Parameters:
  ///   - name: The module path.
  ///   - layer: Its decoder layer.
  /// - Returns: Whether to adapt it.
  public func matches(_ name: String, layer: Int) -> Bool {
    if let layers, !layers.contains(layer) { return false }
    guard let names else { return true }
    return names.contains { name == $0 || name.hasSuffix("." + $0) }
  }

  /// The value PEFT's `target_modules` needs (the names; the seven Llama projections for `all-linear`).
  var peftTargetModules: [String] {
    names ?? ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
  }
}
