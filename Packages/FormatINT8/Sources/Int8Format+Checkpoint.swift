public import QuantCore

// bitsandbytes' Linear8bitLt state dict (`nn/modules.py`, `_save_to_state_dict` and
// `maybe_rearrange_weight`): `weight` (I8), `SCB` (F32) and `weight_format` (U8 scalar, 0 = "row").

extension Int8Format {
  /// The legacy `weight_format` codes bitsandbytes knows (`utils.py`, `LINEAR_8BIT_WEIGHTS_FORMAT_MAPPING`).
  static let weightFormatNames = [0: "row", 1: "col32", 2: "col_turing", 3: "col_ampere"]

  /// The module prefix of a weight key: `model.q_proj.weight` → `model.q_proj.`; a key that does not end
  /// in `weight` is treated as the module itself (`x` → `x.`).
  static func modulePrefix(of weightName: String) -> String {
    if weightName == "weight" { return "" }
    if weightName.hasSuffix(".weight") { return String(weightName.dropLast("weight".count)) }
    return weightName + "."
  }

  /// `<module>.SCB` and `<module>.weight_format`.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: The companion keys.
  public func companionTensorNames(for weightName: String) -> [String] {
    let prefix = Int8Format.modulePrefix(of: weightName)
    return [prefix + "SCB", prefix + "weight_format"]
  }

  /// The tensors bitsandbytes saves for a `Linear8bitLt` weight, in its order: `weight`, `SCB`,
  /// `weight_format`.
  ///
  /// - Parameters:
  ///   - tensor: A tensor with the ``StorageLayout/int8Rowwise(_:)`` layout.
  ///   - weightName: The weight's key (`….weight`).
  /// - Returns: `weight` (I8 `[out, in]`), `SCB` (F32 `[out]`), `weight_format` (U8 `[]`, 0).
  /// - Throws: `QuantError.invalidState` for another layout or inconsistent data.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .int8Rowwise(let weights) = tensor.layout else {
      throw .invalidState("int8 checkpoints need the int8-rowwise layout, found \(tensor.layout.kind)")
    }
    guard weights.values.dtype == .int8 else {
      throw .unsupportedDType(weights.values.dtype, operation: "int8 checkpoint weight", supported: [.int8])
    }
    let rows = weights.values.shape.count >= 2 ? weights.values.shape.dropLast().reduce(1, *) : 1
    guard weights.rowScale.count == rows else {
      throw .invalidState("SCB has \(weights.rowScale.count) entries for \(rows) rows")
    }
    let prefix = Int8Format.modulePrefix(of: weightName)
    return [
      NamedTensor(weightName, weights.values),
      NamedTensor(prefix + "SCB", try Tensor(weights.rowScale)),
      NamedTensor(prefix + "weight_format", try Tensor([UInt8(0)], shape: [])),
    ]
  }

  /// Reads a `Linear8bitLt` weight: an I8 `weight` with its `SCB`.
  ///
  /// `weight_format` may be absent (bitsandbytes then assumes `"row"`); when present it must be 0.
  /// The original dtype is unknown to the checkpoint and is reported as float16 (what bitsandbytes
  /// quantized from).
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where to look up `weight`, `SCB` and `weight_format`.
  /// - Returns: The tensor, or `nil` when there is no int8 `weight` with an `SCB` beside it.
  /// - Throws: `QuantError.invalidState` for a `weight_format` other than 0 (`col32`, `col_turing`,
  ///   `col_ampere` or unknown) or inconsistent shapes and dtypes.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    let prefix = Int8Format.modulePrefix(of: weightName)
    guard let weight = try source.tensor(named: weightName), weight.dtype == .int8,
      let scb = try source.tensor(named: prefix + "SCB")
    else { return nil }
    guard weight.shape.count == 2 else {
      throw .invalidState("\(weightName): int8 weight must be [out_features, in_features], found \(weight.shape)")
    }
    guard [.float32, .float16, .bfloat16].contains(scb.dtype), scb.elementCount == weight.shape[0] else {
      throw .invalidState(
        "\(prefix)SCB must be a float tensor of \(weight.shape[0]) entries, found \(scb.dtype) \(scb.shape)")
    }
    if let format = try source.tensor(named: prefix + "weight_format") {
      try Int8Format.checkWeightFormat(format, name: prefix + "weight_format")
    }
    let weights = Int8RowwiseWeights(values: weight, rowScale: try scb.floats())
    return QuantizedTensor(format: name, shape: weight.shape, originalDType: .float16, layout: .int8Rowwise(weights))
  }

  static func checkWeightFormat(_ tensor: Tensor, name: String) throws(QuantError) {
    guard tensor.elementCount == 1, !tensor.dtype.isFloatingPoint, tensor.dtype != .bool else {
      throw .invalidState("\(name) must be an integer scalar, found \(tensor.dtype) \(tensor.shape)")
    }
    // A stored 64-bit value need not fit Int (or be exact in Float): compare as stored, convert checked.
    let stored = try tensor.floats()[0]
    guard stored == 0 else {
      let code = Int(exactly: stored)
      let known = code.flatMap { weightFormatNames[$0] }.map { "'\($0)'" } ?? "an unknown format"
      throw .invalidState(
        "\(name) is \(code.map(String.init) ?? String(stored)) (\(known)); only 0 ('row') is supported, as in bitsandbytes 0.50 — re-save the model with a current bitsandbytes"
      )
    }
  }
}
