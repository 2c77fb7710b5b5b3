public import QuantCore
internal import _CPUKernelsNative

/// A quantized weight checked and resolved once for repeated `CPUBackend.linear(_:weight:bias:)`
/// calls (a model's layer, called once per token).
///
/// Preparing validates the layout against the shape and decodes double-quantized (nested) absmax to
/// float32 once, so a call no longer decodes `N·K / blocksize` scales; the weight's data is used in
/// place (the handle keeps the tensor, and with it the memory, alive). Results are bit-identical to
/// the plain `linear` with the `QuantizedTensor`.
public final class PreparedLinearWeight: Sendable {
  /// The weight this handle was prepared from.
  public let weight: QuantizedTensor
  /// Float32 block scales when the weight stores them double-quantized; `nil` otherwise.
  let decodedScales: [Float]?

  init(weight: QuantizedTensor, decodedScales: [Float]?) {
    self.weight = weight
    self.decodedScales = decodedScales
  }

  /// Extra bytes the handle holds (decoded scales), for memory accounting.
  public var preparedByteCount: Int { (decodedScales?.count ?? 0) * MemoryLayout<Float>.stride }
}

extension CPUBackend {
  /// Validates `weight` and decodes what every call would otherwise decode again (nested absmax).
  ///
  /// - Parameter weight: Quantized weights with logical shape `[N, K]`.
  /// - Returns: A handle to keep and pass to `linear(_:weight:bias:)`.
  /// - Throws: `QuantError` on inconsistent weights.
  public func prepare(_ weight: QuantizedTensor) throws(QuantError) -> PreparedLinearWeight {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "linear needs a 2-D weight [out_features, in_features]")
    }
    var decoded: [Float]? = nil
    if case .codebook4Bit(_, let state) = weight.layout, case .nested(let nested) = state.absmax {
      try state.validate(codebookSize: 16)
      decoded = try decodeNested(nested)
    } else if case .codebook8Bit(_, let state) = weight.layout, case .nested(let nested) = state.absmax {
      try state.validate(codebookSize: 256)
      decoded = try decodeNested(nested)
    }
    // Resolving once checks the layout against the shape (byte counts, scale counts, dtypes).
    try PreparedWeight.with(
      weight.layout, shape: weight.shape, isa: isa, threads: threadCount, scratch: scratch, decodedScales: decoded
    ) { _ in }
    return PreparedLinearWeight(weight: weight, decodedScales: decoded)
  }

  /// Computes `input · weightᵀ + bias` with a prepared weight (see ``prepare(_:)``).
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: A handle from ``prepare(_:)``.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype, accumulated in float32.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func linear(_ input: Tensor, weight: PreparedLinearWeight, bias: Tensor?) throws(QuantError) -> Tensor {
    try linear(input, weight: weight.weight, decodedScales: weight.decodedScales, bias: bias)
  }

  private func decodeNested(_ nested: NestedAbsmax) throws(QuantError) -> [Float] {
    try nested.validate()
    return [Float](unsafeUninitializedCapacity: nested.codes.count) { buffer, initialized in
      nested.codes.withUnsafeBufferPointer { codes in
        nested.absmax.withUnsafeBufferPointer { absmax in
          nested.code.withUnsafeBufferPointer { code in
            if let target = buffer.baseAddress {
              ck_decode_nested(
                codes.baseAddress, absmax.baseAddress, code.baseAddress, nested.blocksize, nested.offset, 0,
                codes.count, target)
            }
          }
        }
      }
      initialized = nested.codes.count
    }
  }
}
