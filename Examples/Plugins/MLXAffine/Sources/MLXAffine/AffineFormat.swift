public import QuantCore

/// MLX's affine quantization (`mlx.core.quantize`, mode `"affine"`) as a swift-bitsandbytes format.
///
/// Per group of `group_size` values of a row: `scale = (max − min) / (2^bits − 1)` (at least 1e-7),
/// signed so that the edge of larger magnitude is exactly representable, `bias` = that edge, and
/// `q = rint((w − bias) / scale)` clamped to `[0, 2^bits − 1]`. Codes are packed low bits first into
/// `UInt32` words. All arithmetic is float32, as MLX's CPU kernel does; scales and biases are stored in
/// the input dtype. Checkpoints use MLX's names (`<module>.weight`, `.scales`, `.biases`) and the model's
/// `config.json` gets MLX's `quantization` block, so MLX and mlx-lm load the output as is.
public struct AffineFormat: QuantizationFormat {
  /// Bits per code: 4 or 8.
  public let bits: Int

  /// Creates the 4-bit or 8-bit variant.
  ///
  /// - Parameter bits: 4 or 8.
  public init(bits: Int) {
    self.bits = bits
  }

  static let groupSize = FormatParameterSpec(
    name: "group_size", kind: .integer(allowed: [32, 64, 128]), defaultValue: .int(64),
    summary: "values per scale/bias group (along each row)")

  /// `"affine4"` or `"affine8"`.
  public var name: String { "affine\(bits)" }
  /// One line for listings.
  public var summary: String { "MLX affine \(bits)-bit (scale + bias per group, uint32 words), loads in MLX" }
  /// `group_size`.
  public var parameterSpecs: [FormatParameterSpec] { [AffineFormat.groupSize] }

  /// Quantizes a 2-D (or higher, flattened to rows) float tensor whose last dimension is a multiple of the group size.
  public func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    let groupSize = try parameters.integer(AffineFormat.groupSize)
    guard [.float32, .float16, .bfloat16].contains(tensor.dtype) else {
      throw .unsupportedDType(tensor.dtype, operation: "\(name) quantization", supported: [.float32, .float16, .bfloat16])
    }
    guard tensor.elementCount > 0, let columns = tensor.shape.last else { throw .emptyTensor(context: "\(name) quantization") }
    guard columns % groupSize == 0 else {
      throw .invalidShape(tensor.shape, reason: "the last dimension must be a multiple of group_size \(groupSize)")
    }
    let rows = tensor.elementCount / columns
    let values = try tensor.floats()
    guard values.allSatisfy(\.isFinite) else { throw .invalidArgument("\(name) cannot quantize NaN or infinite values") }
    let groups = values.count / groupSize
    let bins = Float((1 << bits) - 1)
    let perWord = 32 / bits
    var scales = [Float](repeating: 0, count: groups)
    var biases = [Float](repeating: 0, count: groups)
    var words = [UInt32](repeating: 0, count: values.count / perWord)
    for group in 0..<groups {
      let start = group * groupSize
      var low = Float.infinity
      var high = -Float.infinity
      for value in values[start..<(start + groupSize)] {
        high = high < value ? value : high  // std::max(high, value)
        low = value < low ? value : low  // std::min(low, value)
      }
      let lowIsEdge = abs(low) > abs(high)
      var scale = (high - low) / bins
      scale = scale < 1e-7 ? 1e-7 : scale
      scale = lowIsEdge ? scale : -scale
      let edge = lowIsEdge ? low : high
      let q0 = (edge / scale).rounded(.toNearestOrEven)
      var bias: Float = 0
      if q0 != 0 {
        scale = edge / q0
        bias = edge
      }
      for index in start..<(start + groupSize) {
        var q = ((values[index] - bias) / scale).rounded(.toNearestOrEven)
        q = q < 0 ? 0 : q
        q = bins < q ? bins : q
        words[index / perWord] |= UInt32(q) << UInt32((index % perWord) * bits)
      }
      scales[group] = scale
      biases[group] = bias
    }
    let weights = try AffineWeights(
      words: Tensor(words, shape: [rows, columns / perWord]),
      scales: Tensor(converting: scales, to: tensor.dtype, shape: [rows, columns / groupSize]),
      biases: Tensor(converting: biases, to: tensor.dtype, shape: [rows, columns / groupSize]),
      bits: bits, groupSize: groupSize)
    return QuantizedTensor(format: name, shape: tensor.shape, originalDType: tensor.dtype, layout: .custom(weights))
  }

  /// `<module>.weight` (uint32 words), `<module>.scales`, `<module>.biases`, as MLX saves them.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    let weights = try affineWeights(of: tensor)
    let base = AffineFormat.moduleName(of: weightName)
    return [
      NamedTensor(weightName, weights.words), NamedTensor(base + ".scales", weights.scales),
      NamedTensor(base + ".biases", weights.biases),
    ]
  }

  /// Reads MLX-named tensors back; `nil` when `weightName` is absent or not uint32 codes.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    guard let words = try source.tensor(named: weightName), words.dtype == .uint32 else { return nil }
    let base = AffineFormat.moduleName(of: weightName)
    guard let scales = try source.tensor(named: base + ".scales"), let biases = try source.tensor(named: base + ".biases") else {
      throw .invalidState("\(weightName) has uint32 codes but \(base).scales or \(base).biases is missing")
    }
    guard words.shape.count == 2, scales.shape.count == 2, scales.shape[1] > 0 else {
      throw .invalidState("\(weightName): unexpected shapes \(words.shape) and \(scales.shape)")
    }
    let columns = words.shape[1] * 32 / bits
    let weights = try AffineWeights(
      words: words, scales: scales, biases: biases, bits: bits, groupSize: columns / scales.shape[1])
    return QuantizedTensor(format: name, shape: [weights.rows, columns], originalDType: scales.dtype, layout: .custom(weights))
  }

  /// `<module>.scales` and `<module>.biases`.
  public func companionTensorNames(for weightName: String) -> [String] {
    let base = AffineFormat.moduleName(of: weightName)
    return [base + ".scales", base + ".biases"]
  }

  /// MLX's `config.json` block: `"quantization": {"group_size": g, "bits": b, "mode": "affine"}` (also
  /// under `quantization_config`, as mlx-lm writes it).
  public func modelConfiguration(parameters: FormatParameters) throws(QuantError) -> [(key: String, value: ConfigValue)]? {
    let block = ConfigValue.object([
      ("group_size", .int(try parameters.integer(AffineFormat.groupSize))), ("bits", .int(bits)), ("mode", .string("affine")),
    ])
    return [("quantization", block), ("quantization_config", block)]
  }

  func affineWeights(of tensor: QuantizedTensor) throws(QuantError) -> AffineWeights {
    guard case .custom(let layout) = tensor.layout, let weights = layout as? AffineWeights, weights.bits == bits else {
      throw .invalidState("\(tensor.format) tensor is not \(name) data")
    }
    return weights
  }

  static func moduleName(of weightName: String) -> String {
    weightName.hasSuffix(".weight") ? String(weightName.dropLast(".weight".count)) : weightName
  }
}
