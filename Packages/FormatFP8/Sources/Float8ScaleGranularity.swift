public import QuantCore

/// Which elements share one fp8 scale.
///
/// Every scaled granularity uses transformers' fine-grained rule per group: `scale = maxFinite / absmax`
/// (1 for an all-zero group), `q = fp8(clamp(x · scale, −maxFinite, maxFinite))`, and stores the
/// dequantization multiplier `scale_inv = 1 / scale`.
public enum Float8ScaleGranularity: Sendable, Equatable, CustomStringConvertible {
  /// No scaling: a plain cast (`tensor.to(torch.float8_*)`), multiplier 1. Values beyond the format's
  /// range follow the overflow policy.
  case unscaled
  /// One scale for the whole tensor (transformers' per-tensor FP8, `weight_block_size: null`).
  case tensor
  /// One scale per row (per output feature), as the original Swift package did.
  case row
  /// One scale per `rows × columns` tile; `128 × 128` is transformers' fine-grained FP8. Edge tiles
  /// of a shape that does not divide evenly cover only the valid elements.
  case tile(rows: Int, columns: Int)

  /// The values of the `scale` format parameter.
  public static let parameterValues = ["none", "tensor", "row", "tile"]

  /// transformers' fine-grained tile, 128 × 128.
  public static let fineGrained = Float8ScaleGranularity.tile(rows: 128, columns: 128)

  /// Creates a granularity from the `scale` and `tile_size` parameters.
  ///
  /// - Parameters:
  ///   - parameter: `none`, `tensor`, `row` or `tile`.
  ///   - tileSize: The square tile's side (used by `tile` only); must be positive.
  /// - Throws: `QuantError.invalidArgument` for an unknown name or a non-positive tile size.
  public init(parameter: String, tileSize: Int = 128) throws(QuantError) {
    switch parameter {
    case "none": self = .unscaled
    case "tensor": self = .tensor
    case "row": self = .row
    case "tile":
      guard tileSize > 0 else { throw .invalidArgument("parameter 'tile_size' must be positive, found \(tileSize)") }
      self = .tile(rows: tileSize, columns: tileSize)
    default:
      throw .invalidArgument(
        "parameter 'scale' must be one of \(Float8ScaleGranularity.parameterValues.joined(separator: ", ")), found \"\(parameter)\""
      )
    }
  }

  /// The `scale` parameter value (`none`, `tensor`, `row`, `tile`).
  public var parameterValue: String {
    switch self {
    case .unscaled: "none"
    case .tensor: "tensor"
    case .row: "row"
    case .tile: "tile"
    }
  }

  /// A readable name, e.g. `tile 128×128`.
  public var description: String {
    if case .tile(let rows, let columns) = self { return "tile \(rows)×\(columns)" }
    return parameterValue
  }
}
