public import QuantCore

/// A frozen linear layer `y = x·Wᵀ + b` (quantized or dense weights) with the input gradient
/// `dX = dY·W`, the only backward a frozen base layer needs (bitsandbytes' `MatMul4Bit.backward`).
///
/// Both directions decode `tileRows` rows of W at a time into one scratch tile, so a quantized weight is
/// never materialised whole.
public struct FrozenLinear: Sendable {
  /// The stored weight.
  public enum Weight: Sendable {
    /// Dense float32 `[outFeatures, inFeatures]`.
    case dense([Float])
    /// Any quantized layout with logical shape `[outFeatures, inFeatures]`.
    case quantized(QuantizedTensor)
  }

  /// The weight's name, for errors (`model.layers.0.self_attn.q_proj`).
  public let name: String
  /// Input features (columns of W).
  public let inFeatures: Int
  /// Output features (rows of W).
  public let outFeatures: Int
  /// The optional bias `[outFeatures]`.
  public let bias: [Float]?
  /// Rows of W decoded per tile.
  public var tileRows: Int
  private let dense: [Float]?
  private let decoder: QuantizedRowDecoder?
  /// A faster forward (the runtime's kernels): `(x, rows) → x·Wᵀ + b`; `nil` uses the tile loop.
  package var acceleratedForward: (@Sendable ([Float], Int) throws(QLoRAError) -> [Float])?

  /// Creates a frozen layer.
  ///
  /// - Parameters:
  ///   - name: The module name, for errors.
  ///   - weight: The weight.
  ///   - inFeatures: Columns of W (checked against a quantized weight's shape).
  ///   - outFeatures: Rows of W.
  ///   - bias: Optional `[outFeatures]`.
  ///   - tileRows: Rows decoded per tile (64 by default).
  /// - Throws: `QLoRAError` when the weight or bias disagree with the stated shape.
  public init(
    name: String, weight: Weight, inFeatures: Int, outFeatures: Int, bias: [Float]? = nil, tileRows: Int = 64
  ) throws(QLoRAError) {
    self.name = name
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.tileRows = max(1, tileRows)
    if let bias { try bias.require(outFeatures, "\(name).bias") }
    self.bias = bias
    switch weight {
    case .dense(let values):
      try values.require(inFeatures * outFeatures, "\(name).weight")
      dense = values
      decoder = nil
    case .quantized(let tensor):
      let decoder = try QuantizedRowDecoder(tensor, name: name)
      guard decoder.rows == outFeatures, decoder.columns == inFeatures else {
        throw .quantized(name: name, reason: "shape \(tensor.shape), expected [\(outFeatures), \(inFeatures)]")
      }
      self.decoder = decoder
      dense = nil
    }
  }

  /// Calls `body(rowRange, tile)` for each tile of W's rows, decoded to float32.
  package func forEachTile(_ body: (Range<Int>, UnsafeBufferPointer<Float>) -> Void) throws(QLoRAError) {
    if let dense {
      dense.withUnsafeBufferPointer { all in
        var start = 0
        while start < outFeatures {
          let end = min(start + tileRows, outFeatures)
          body(start..<end, UnsafeBufferPointer(rebasing: all[(start * inFeatures)..<(end * inFeatures)]))
          start = end
        }
      }
      return
    }
    guard let decoder else { return }
    var tile = [Float](repeating: 0, count: min(tileRows, outFeatures) * inFeatures)
    var start = 0
    while start < outFeatures {
      let end = min(start + tileRows, outFeatures)
      try tile.withUnsafeMutableBufferPointer { (buffer) throws(QLoRAError) in
        try decoder.decodeRows(start..<end, into: buffer, name: name)
      }
      tile.withUnsafeBufferPointer { buffer in
        body(start..<end, UnsafeBufferPointer(rebasing: buffer[0..<((end - start) * inFeatures)]))
      }
      start = end
    }
  }

  /// `y = x·Wᵀ + b` for `x` `[rows, inFeatures]`.
  ///
  /// - Parameter x: The input rows.
  /// - Returns: `[rows, outFeatures]`.
  /// - Throws: `QLoRAError` on a size mismatch or an undecodable weight.
  public func forward(_ x: [Float]) throws(QLoRAError) -> [Float] {
    guard x.count % inFeatures == 0 else {
      throw .shapeMismatch(context: "\(name) input", expected: inFeatures, found: x.count)
    }
    let rows = x.count / inFeatures
    if let acceleratedForward { return try acceleratedForward(x, rows) }
    var y = [Float](repeating: 0, count: rows * outFeatures)
    let k = inFeatures
    let n = outFeatures
    try x.withUnsafeBufferPointer { (input) throws(QLoRAError) in
      try y.withUnsafeMutableBufferPointer { (output) throws(QLoRAError) in
        try forEachTile { range, tile in
          Matrix.multiplyTransposed(
            input, tile, into: output, m: rows, n: range.count, k: k, cStride: n, cOffset: range.lowerBound)
        }
      }
    }
    if let bias {
      for r in 0..<rows { for j in 0..<n { y[r * n + j] += bias[j] } }
    }
    return y
  }

  /// The input gradient `dX = dY·W` for `dY` `[rows, outFeatures]`.
  ///
  /// - Parameter outputGradient: `dL/dy`.
  /// - Returns: `dL/dx` `[rows, inFeatures]`.
  /// - Throws: `QLoRAError` on a size mismatch or an undecodable weight.
  public func inputGradient(_ outputGradient: [Float]) throws(QLoRAError) -> [Float] {
    guard outputGradient.count % outFeatures == 0 else {
      throw .shapeMismatch(context: "\(name) output gradient", expected: outFeatures, found: outputGradient.count)
    }
    let rows = outputGradient.count / outFeatures
    var dx = [Float](repeating: 0, count: rows * inFeatures)
    let k = inFeatures
    let n = outFeatures
    try outputGradient.withUnsafeBufferPointer { (dy) throws(QLoRAError) in
      try dx.withUnsafeMutableBufferPointer { (out) throws(QLoRAError) in
        try forEachTile { range, tile in
          Matrix.multiplyAccumulate(dy, tile, into: out, m: rows, n: k, k: range.count, aStride: n, aOffset: range.lowerBound)
        }
      }
    }
    return dx
  }
}
