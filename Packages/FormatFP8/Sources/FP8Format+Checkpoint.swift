public import QuantCore

// transformers' fine-grained FP8 state dict: `weight` (F8_E4M3) and `weight_scale_inv` (F32).
// Key naming follows `Fp8Quantize._quantize_one`: `x.weight` → `x.weight_scale_inv`, any other key
// `k` → `k_scale_inv`.

extension FP8Format {
  /// The key of the multipliers stored beside `weightName`.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: `<weightName>_scale_inv` (`….weight` → `….weight_scale_inv`).
  public static func scaleName(for weightName: String) -> String {
    weightName + "_scale_inv"
  }

  /// `<module>.weight_scale_inv`.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The companion key.
  public func companionTensorNames(for weightName: String) -> [String] {
    [FP8Format.scaleName(for: weightName)]
  }

  /// transformers' `<weight>_scale_inv` beside a float8 weight marks a fine-grained FP8 checkpoint.
  ///
  /// - Parameter tensorName: A checkpoint key.
  public func marksQuantizedCheckpoint(tensorName: String) -> Bool {
    tensorName.hasSuffix(".weight_scale_inv")
  }

  /// The tensors transformers' fine-grained FP8 stores: `weight` and `weight_scale_inv`.
  ///
  /// `weight_scale_inv` is float32 with shape `[ceil(N/tileRows), ceil(K/tileColumns)]` for tiles (the
  /// leading dimensions of a 3-D or larger weight are kept when its rows divide into tiles), `[N, 1]`
  /// for per-row scales and `[]` (a scalar) per tensor or unscaled.
  ///
  /// - Parameters:
  ///   - tensor: A tensor with the ``StorageLayout/float8(_:)`` layout of this format's encoding.
  ///   - weightName: The weight's key.
  /// - Returns: `weight` and `weight_scale_inv`.
  /// - Throws: `QuantError.invalidState` for another layout or encoding, or scales that do not fit.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .float8(let weights) = tensor.layout, weights.encoding == encoding else {
      throw .invalidState("\(name) checkpoints need \(encoding) fp8 weights, found the \(tensor.layout.kind) layout")
    }
    let shape = weights.values.shape
    let columns = max(shape.last ?? 1, 1)
    let rows = weights.values.elementCount / columns
    _ = try weights.scales.multiplierLookup(rows: rows, columns: columns)
    let scaleTensor: Tensor
    switch weights.scales {
    case .tensor(let value):
      scaleTensor = try Tensor([value], shape: [])
    case .rows(let values):
      scaleTensor = try Tensor(values, shape: [rows, 1])
    case .tiles(let tileRows, let tileColumns, let values):
      let gridColumns = columns.dividedRoundingUp(by: tileColumns)
      var gridShape = [rows.dividedRoundingUp(by: tileRows), gridColumns]
      if shape.count > 2, shape[shape.count - 2] % tileRows == 0 {
        gridShape = Array(shape.dropLast(2)) + [shape[shape.count - 2] / tileRows, gridColumns]
      }
      scaleTensor = try Tensor(values, shape: gridShape)
    }
    return [NamedTensor(weightName, weights.values), NamedTensor(FP8Format.scaleName(for: weightName), scaleTensor)]
  }

  /// Reads an fp8 weight of this format's encoding and its `weight_scale_inv`.
  ///
  /// The granularity is inferred from the scale's shape: a scalar or `[1]` is per tensor, `[N, 1]` per row,
  /// anything else a tile grid whose tile is 128 × 128 when that fits (transformers' default) and
  /// otherwise the smallest tile giving that grid. When the model's `weight_block_size` is known, use
  /// ``loadCheckpoint(weightName:from:tileSize:)``. The original dtype is not recorded in the checkpoint and is reported as bfloat16.
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where to look up the tensors.
  /// - Returns: The tensor, or `nil` when `weightName` is absent, not of this format's fp8 dtype, or has
  ///   no `weight_scale_inv` (a plain fp8 cast is not this format).
  /// - Throws: `QuantError.invalidState` when the scales are not float or do not fit the weight.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    try loadCheckpoint(weightName: weightName, from: source, tileSize: nil)
  }

  /// Reads an fp8 weight with a known tile size (transformers' `weight_block_size`).
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where to look up the tensors.
  ///   - tileSize: `(rows, columns)` of a tile, or `nil` to infer it from the scale's shape.
  /// - Returns: The tensor, or `nil` when `weightName` is absent or not of this format's fp8 dtype.
  /// - Throws: `QuantError.invalidState` when the scales are not float or do not fit the weight.
  public func loadCheckpoint(
    weightName: String, from source: any TensorSource, tileSize: (rows: Int, columns: Int)?
  ) throws(QuantError) -> QuantizedTensor? {
    guard let weight = try source.tensor(named: weightName), weight.dtype == encoding.dtype else { return nil }
    let scaleName = FP8Format.scaleName(for: weightName)
    guard let scale = try source.tensor(named: scaleName) else { return nil }
    guard [.float32, .float16, .bfloat16].contains(scale.dtype) else {
      throw .invalidState("\(scaleName): expected float32 multipliers, found \(scale.dtype)")
    }
    let scales = try FP8Format.scales(
      scale.floats(), scaleShape: scale.shape, weightShape: weight.shape, tileSize: tileSize, name: scaleName)
    let weights = Float8Weights(values: weight, encoding: encoding, scales: scales)
    let columns = max(weight.shape.last ?? 1, 1)
    do {
      _ = try weights.scales.multiplierLookup(rows: weight.elementCount / columns, columns: columns)
    } catch {
      throw .invalidState("\(scaleName) \(FP8Format.describe(weights.scales)) does not fit \(weightName) \(weight.shape)")
    }
    return QuantizedTensor(format: name, shape: weight.shape, originalDType: .bfloat16, layout: .float8(weights))
  }

  static func describe(_ scales: Float8Scales) -> String {
    switch scales {
    case .tensor: "(one multiplier)"
    case .rows(let values): "(\(values.count) row multipliers)"
    case .tiles(let rows, let columns, let values): "(\(values.count) multipliers of \(rows)×\(columns) tiles)"
    }
  }

  /// Interprets a stored `weight_scale_inv` for a weight.
  static func scales(
    _ values: [Float], scaleShape: [Int], weightShape: [Int], tileSize: (rows: Int, columns: Int)?, name: String
  ) throws(QuantError) -> Float8Scales {
    let columns = max(weightShape.last ?? 1, 1)
    let rows = weightShape.reduce(1, *) / columns
    if scaleShape.isEmpty || scaleShape == [1] { return .tensor(values.first ?? 1) }
    guard scaleShape.count >= 2 else {
      throw .invalidState("\(name) has shape \(scaleShape); expected [], [N, 1] or a tile grid for weight \(weightShape)")
    }
    let gridColumns = scaleShape[scaleShape.count - 1]
    let gridRows = values.count / max(gridColumns, 1)
    if tileSize == nil, gridColumns == 1, gridRows == rows, columns > 1 || rows == 1 {
      return .rows(values)
    }
    // A 3-D or larger weight with a per-matrix grid: tiles must not straddle matrices.
    let innerRows = weightShape.count > 2 && scaleShape.count > 2 ? weightShape[weightShape.count - 2] : rows
    let innerGridRows = scaleShape.count > 2 ? scaleShape[scaleShape.count - 2] : gridRows
    let tile: (rows: Int, columns: Int)
    if let tileSize {
      tile = tileSize
    } else if let rowsTile = inferTile(extent: innerRows, count: innerGridRows),
      let columnsTile = inferTile(extent: columns, count: gridColumns)
    {
      tile = (rowsTile, columnsTile)
    } else {
      throw .invalidState("\(name) has shape \(scaleShape), which is no tile grid of weight \(weightShape)")
    }
    guard tile.rows > 0, tile.columns > 0,
      innerRows.dividedRoundingUp(by: tile.rows) == innerGridRows, columns.dividedRoundingUp(by: tile.columns) == gridColumns,
      innerRows == rows || innerRows % tile.rows == 0
    else {
      throw .invalidState(
        "\(name) has shape \(scaleShape), which does not match \(tile.rows)×\(tile.columns) tiles of weight \(weightShape)")
    }
    return .tiles(tileRows: tile.rows, tileColumns: tile.columns, values: values)
  }

  /// The tile side giving `count` tiles over `extent`: 128 when it fits, else the smallest that does.
  static func inferTile(extent: Int, count: Int) -> Int? {
    guard count > 0 else { return nil }
    if extent.dividedRoundingUp(by: 128) == count { return 128 }
    let side = max(extent.dividedRoundingUp(by: count), 1)
    return extent.dividedRoundingUp(by: side) == count ? side : nil
  }
}
