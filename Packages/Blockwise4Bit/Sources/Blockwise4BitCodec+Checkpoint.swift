public import QuantCore

extension Blockwise4BitCodec {
  /// The key of the JSON state tensor for `weightName`.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: `<weightName>.quant_state.bitsandbytes__<quant_type>`.
  public func stateTensorName(for weightName: String) -> String {
    weightName + "." + PackedQuantStateJSON.tensorSuffix(quantType: quantType)
  }

  /// The companion keys a checkpoint of this quant type may hold beside `weightName`: `absmax`, `quant_map` and
  /// the JSON state always, `nested_absmax` and `nested_quant_map` when double-quantized.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: All five keys, prefixed (callers filter by presence).
  public func companionTensorNames(for weightName: String) -> [String] {
    ["absmax", "quant_map", "nested_absmax", "nested_quant_map", PackedQuantStateJSON.tensorSuffix(quantType: quantType)]
      .map { weightName + "." + $0 }
  }

  /// The extra companion keys of a double-quantized weight.
  ///
  /// - Parameter weightName: The weight's key.
  /// - Returns: `nested_absmax` and `nested_quant_map`, prefixed.
  public func nestedCompanionTensorNames(for weightName: String) -> [String] {
    ["nested_absmax", "nested_quant_map"].map { weightName + "." + $0 }
  }

  /// The tensors transformers writes for a bitsandbytes 4-bit weight, in `state_dict` order.
  ///
  /// - Parameters:
  ///   - tensor: A tensor made by this codec (or loaded by it).
  ///   - weightName: The weight's key.
  /// - Returns: `weight` (packed, storage dtype), `weight.absmax` (F32, or U8 when nested), `weight.quant_map` (F32[16]),
  ///   `weight.nested_absmax` and `weight.nested_quant_map` when nested, and the JSON state (U8).
  /// - Throws: `QuantError.invalidState` when the tensor has another layout or quant type, or an inconsistent state.
  public func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .codebook4Bit(let packed, let state) = tensor.layout else {
      throw .invalidState("\(quantType) checkpoints need 4-bit codebook data, found layout '\(tensor.layout.kind)'")
    }
    guard state.quantType == quantType else {
      throw .invalidState("the tensor was quantized as '\(state.quantType)', not '\(quantType)'")
    }
    try state.validate(codebookSize: 16)
    guard packed.byteCount == state.elementCount.dividedRoundingUp(by: 2) else {
      throw .byteCountMismatch(
        context: "\(weightName) packed data", expected: state.elementCount.dividedRoundingUp(by: 2), found: packed.byteCount)
    }
    var result = [NamedTensor(weightName, packed)]
    var record = PackedQuantStateJSON(quantType: quantType, blocksize: state.blocksize, dtype: state.dtype, shape: state.shape)
    switch state.absmax {
    case .plain(let absmax):
      result.append(NamedTensor(weightName + ".absmax", try Tensor(absmax)))
      result.append(NamedTensor(weightName + ".quant_map", try Tensor(state.code)))
    case .nested(let nested):
      result.append(NamedTensor(weightName + ".absmax", try Tensor(nested.codes)))
      result.append(NamedTensor(weightName + ".quant_map", try Tensor(state.code)))
      result.append(NamedTensor(weightName + ".nested_absmax", try Tensor(nested.absmax)))
      result.append(NamedTensor(weightName + ".nested_quant_map", try Tensor(nested.code)))
      record.nested = .init(blocksize: nested.blocksize, dtype: .float32, offset: nested.offset)
    }
    result.append(NamedTensor(stateTensorName(for: weightName), try record.encodedTensor()))
    return result
  }

  /// Reads a bitsandbytes 4-bit weight of this quant type, or returns `nil` when `source` has no JSON state
  /// `<weightName>.quant_state.bitsandbytes__<quant_type>`.
  ///
  /// The stored `quant_map` only confirms the quant type (bitsandbytes' `code[1] > 0` means FP4); decoding uses
  /// this codec's codebook, as bitsandbytes' kernels use their built-in tables. The stored `nested_quant_map`
  /// and `nested_offset` are used as stored.
  ///
  /// - Parameters:
  ///   - weightName: The weight's key.
  ///   - source: Where the tensors are.
  /// - Returns: The quantized tensor, or `nil`.
  /// - Throws: `QuantError` when tensors are missing, have the wrong dtype, shape or byte count, or the JSON is bad.
  public func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    guard let stateTensor = try source.tensor(named: stateTensorName(for: weightName)) else { return nil }
    guard stateTensor.dtype == .uint8 else {
      throw .unsupportedDType(stateTensor.dtype, operation: "\(stateTensorName(for: weightName))", supported: [.uint8])
    }
    let record = try PackedQuantStateJSON(jsonBytes: stateTensor.bytes)
    guard record.quantType == quantType else {
      throw .invalidState("\(stateTensorName(for: weightName)) says quant_type '\(record.quantType)', expected '\(quantType)'")
    }
    guard record.blocksize > 0 else { throw .invalidState("\(weightName): blocksize \(record.blocksize) must be positive") }
    guard Self.supportedDTypes.contains(record.dtype) else {
      throw .unsupportedDType(record.dtype, operation: "\(weightName) original dtype", supported: Self.supportedDTypes)
    }
    let count = try record.elementCount(context: weightName)
    let blocks = BlockwiseCodebookQuantizer.blockCount(count, blocksize: record.blocksize)

    let packed = try required(weightName, in: source)
    guard Self.supportedStorage.contains(packed.dtype) else {
      throw .unsupportedDType(packed.dtype, operation: "\(weightName) quant_storage", supported: Self.supportedStorage)
    }
    let packedBytes = count.dividedRoundingUp(by: 2)
    guard packed.byteCount == packedBytes else {
      throw .byteCountMismatch(context: "\(weightName) packed 4-bit data", expected: packedBytes, found: packed.byteCount)
    }

    let quantMap = try floatVector(weightName + ".quant_map", count: 16, in: source)
    if quantType == "nf4" || quantType == "fp4" {
      let detected = quantMap[1] > 0 ? "fp4" : "nf4"
      guard detected == quantType else {
        throw .invalidState("\(weightName).quant_map looks like \(detected) but the state says \(quantType)")
      }
    }

    let absmaxName = weightName + ".absmax"
    let scales: BlockScales
    if let nested = record.nested {
      let codesTensor = try required(absmaxName, in: source)
      guard codesTensor.dtype == .uint8 else {
        throw .unsupportedDType(codesTensor.dtype, operation: "\(absmaxName) (nested)", supported: [.uint8])
      }
      guard codesTensor.elementCount == blocks else {
        throw .shapeMismatch(context: absmaxName, expected: [blocks], found: codesTensor.shape)
      }
      guard nested.blocksize > 0 else { throw .invalidState("\(weightName): nested_blocksize must be positive") }
      let nestedBlocks = BlockwiseCodebookQuantizer.blockCount(blocks, blocksize: nested.blocksize)
      let nestedAbsmax = try floatVector(weightName + ".nested_absmax", count: nestedBlocks, in: source)
      let nestedMap = try floatVector(weightName + ".nested_quant_map", count: 256, in: source)
      scales = .nested(
        NestedAbsmax(
          codes: codesTensor.bytes, absmax: nestedAbsmax, code: nestedMap, blocksize: nested.blocksize, offset: nested.offset))
    } else {
      scales = .plain(try floatVector(absmaxName, count: blocks, in: source))
    }
    let state = QuantState(
      absmax: scales, shape: record.shape, code: code, dtype: record.dtype, blocksize: record.blocksize, quantType: quantType)
    try state.validate(codebookSize: 16)
    return QuantizedTensor(
      format: quantType, shape: record.shape, originalDType: record.dtype, layout: .codebook4Bit(packed: packed, state: state))
  }

  private func required(_ name: String, in source: any TensorSource) throws(QuantError) -> Tensor {
    guard let tensor = try source.tensor(named: name) else {
      throw .invalidState("the checkpoint has a \(quantType) quant_state but no tensor '\(name)'")
    }
    return tensor
  }

  private func floatVector(_ name: String, count: Int, in source: any TensorSource) throws(QuantError) -> [Float] {
    let tensor = try required(name, in: source)
    guard tensor.dtype == .float32 else { throw .unsupportedDType(tensor.dtype, operation: name, supported: [.float32]) }
    guard tensor.elementCount == count else { throw .shapeMismatch(context: name, expected: [count], found: tensor.shape) }
    return try tensor.scalars(as: Float.self)
  }
}
