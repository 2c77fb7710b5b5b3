public import QuantCore

// The LLM.int8 matrix multiply: int8 × int8 → int32, the scale epilogue, and the mixed-precision
// decomposition that keeps outlier feature columns in floating point (bitsandbytes'
// `MatMul8bitLt.forward` in inference mode, default backend).

/// The constant that turns `int32 · SCA · SCB` into the product of the dequantized operands, `1 / 127²`.
///
/// bitsandbytes spells it differently per backend; the true value is `1/16129 = 6.2000124e-05`.
public enum Int8ProductScale {
  /// `6.200124e-05`, the default (pure torch) backend's constant (`backends/default/ops.py`), used on CPU
  /// and Apple MPS. It is about 1.8e-5 (relative) larger than `1/127²`: a typo upstream, kept for bit
  /// compatibility. This is what ``dequantizeInt8Matmul(_:rowStats:columnStats:bias:to:scale:)`` uses by default.
  public static let defaultBackend: Float = 6.200124e-05
  /// `6.200012e-05`, the CUDA kernel's constant (`kernels.cu`, `kdequant_mm_int32_fp16`).
  public static let cuda: Float = 6.200012e-05
}

/// Multiplies int8 matrices exactly: `A · Bᵀ` with int32 results, as bitsandbytes' `int8_linear_matmul(A, B)`.
///
/// The sums are exact (int32 arithmetic), which is what CUDA and `torch._int_mm` (CPUs with AVX-512)
/// compute. bitsandbytes' fallback on other CPUs multiplies in float32 and is inexact once a partial
/// sum passes 2²⁴ (roughly `K > 1040` at full scale); for smaller `K` both agree. Sums wrap modulo 2³²,
/// which cannot happen below `K = 133 144`.
///
/// - Parameters:
///   - a: `int8` `[M, K]` (leading dimensions are flattened into `M`).
///   - b: `int8` `[N, K]`.
/// - Returns: An `int32` tensor `[..., N]` (the leading dimensions of `a`, then `N`).
/// - Throws: `QuantError.unsupportedDType` for non-int8 operands, `.shapeMismatch` when the `K` differ,
///   `.invalidShape` for a `b` that is not 2-D.
public func matmulInt8(_ a: Tensor, _ b: Tensor) throws(QuantError) -> Tensor {
  guard a.dtype == .int8 else { throw .unsupportedDType(a.dtype, operation: "int8 matmul (A)", supported: [.int8]) }
  guard b.dtype == .int8 else { throw .unsupportedDType(b.dtype, operation: "int8 matmul (B)", supported: [.int8]) }
  guard b.shape.count == 2 else { throw .invalidShape(b.shape, reason: "int8 matmul needs B as [N, K]") }
  let n = b.shape[0]
  let k = b.shape[1]
  guard let aColumns = a.shape.last, aColumns == k else {
    throw .shapeMismatch(context: "int8 matmul inner dimension", expected: [k], found: a.shape)
  }
  let m = k == 0 ? a.elementCount : a.elementCount / k
  let outputShape = Array(a.shape.dropLast()) + [n]
  return try a.withUnsafeBytes { (aBytes) throws(QuantError) in
    try b.withUnsafeBytes { (bBytes) throws(QuantError) in
      try Tensor(dtype: .int32, shape: outputShape) { raw in
        let out = raw.bindMemory(to: Int32.self)
        for row in 0..<m {
          for column in 0..<n {
            var sum: Int32 = 0
            for index in 0..<k {
              let x = Int32(Int8(bitPattern: aBytes[row &* k &+ index]))
              let y = Int32(Int8(bitPattern: bBytes[column &* k &+ index]))
              sum = sum &+ x &* y
            }
            out[row &* n &+ column] = sum
          }
        }
      }
    }
  }
}

/// Scales an int32 product back to floating point, as bitsandbytes' `int8_mm_dequant` (default backend).
///
/// `out[i, j] = fl32(fl32(fl32(float(P[i, j]) · fl32(rowStats[i] · columnStats[j])) · scale) + bias[j])`,
/// then one rounding to `dtype`. The int32 → float32 conversion rounds to nearest even for
/// `|P| > 2²⁴`, as torch's does.
///
/// - Parameters:
///   - product: The `int32` product `[..., N]` from ``matmulInt8(_:_:)``.
///   - rowStats: One absmax per product row (`SCA`, the activations' statistics).
///   - columnStats: One absmax per product column (`SCB`, the weights' statistics).
///   - bias: Optional `[N]` bias of any float dtype, added in float32.
///   - dtype: The output dtype (bitsandbytes defaults to float16).
///   - scale: The `1/127²` constant; ``Int8ProductScale/defaultBackend`` unless told otherwise.
/// - Returns: A tensor of `product`'s shape in `dtype`.
/// - Throws: `QuantError` for a non-int32 product, statistics or bias of the wrong length, or a
///   non-float output dtype.
public func dequantizeInt8Matmul(
  _ product: Tensor, rowStats: [Float], columnStats: [Float], bias: Tensor? = nil, to dtype: DType = .float16,
  scale: Float = Int8ProductScale.defaultBackend
) throws(QuantError) -> Tensor {
  guard product.dtype == .int32 else {
    throw .unsupportedDType(product.dtype, operation: "int8 matmul dequantization", supported: [.int32])
  }
  guard let n = product.shape.last else { throw .invalidShape(product.shape, reason: "the product needs columns") }
  let m = n == 0 ? 0 : product.elementCount / n
  guard rowStats.count == m else {
    throw .shapeMismatch(context: "int8 matmul row statistics (SCA)", expected: [m], found: [rowStats.count])
  }
  guard columnStats.count == n else {
    throw .shapeMismatch(context: "int8 matmul column statistics (SCB)", expected: [n], found: [columnStats.count])
  }
  let biasValues = try bias.map { (bias) throws(QuantError) in
    guard bias.elementCount == n else {
      throw QuantError.shapeMismatch(context: "int8 matmul bias", expected: [n], found: bias.shape)
    }
    return try bias.floats()
  }
  let products = try product.scalars(as: Int32.self)
  var out = [Float](repeating: 0, count: m * n)
  for row in 0..<m {
    for column in 0..<n {
      let statistic = rowStats[row] * columnStats[column]
      var value = Float(products[row * n + column]) * statistic * scale
      if let biasValues { value += biasValues[column] }
      out[row * n + column] = value
    }
  }
  return try Tensor(converting: out, to: dtype, shape: product.shape)
}

/// The LLM.int8 forward pass, `input · Wᵀ + bias`, as bitsandbytes' `MatMul8bitLt` computes it in
/// inference on the default backend.
///
/// 1. The activations are rounded to float16 and quantized row-wise with `threshold`
///    (``quantizeRowwise(_:threshold:)``): `CA`, `SCA` and the outlier columns.
/// 2. `CA · CBᵀ` exactly in int32 (``matmulInt8(_:_:)``), scaled by ``dequantizeInt8Matmul(_:rowStats:columnStats:bias:to:scale:)``
///    into the input's dtype, bias included.
/// 3. When `threshold > 0` and outliers exist, the outlier columns are added in floating point:
///    `input[:, cols] · (CB[:, cols] · SCB / 127)ᵀ`, with the dequantized weights rounded to the input's
///    dtype, accumulated in float32 with fused multiply-adds and added to the step-2 result with one
///    rounding (torch's `addmm`). The outlier path uses the int8 weights, not original weights.
///
/// The result is bit-identical to bitsandbytes for float16 and bfloat16 activations. For float32
/// activations with outliers, torch's `addmm` runs MKL's sgemm, whose rounding depends on memory
/// alignment from run to run; there the outlier columns agree to within an ulp or two.
///
/// - Parameters:
///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
///   - weights: Quantized weights `[N, K]` (bitsandbytes' `CB` and `SCB`).
///   - bias: Optional `[N]`.
///   - threshold: The activation outlier threshold (transformers' `llm_int8_threshold`, 6.0 by default
///     there); 0 disables the decomposition.
///   - scale: The epilogue constant, ``Int8ProductScale/defaultBackend`` by default.
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError` on dtype or shape mismatches.
public func int8Linear(
  _ input: Tensor, weights: Int8RowwiseWeights, bias: Tensor? = nil, threshold: Double = 6.0,
  scale: Float = Int8ProductScale.defaultBackend
) throws(QuantError) -> Tensor {
  guard rowwiseInputTypes.contains(input.dtype) else {
    throw .unsupportedDType(input.dtype, operation: "LLM.int8 linear activations", supported: rowwiseInputTypes)
  }
  guard weights.values.shape.count == 2, weights.values.dtype == .int8 else {
    throw .invalidShape(weights.values.shape, reason: "LLM.int8 weights must be an int8 [out_features, in_features] tensor")
  }
  let n = weights.values.shape[0]
  let k = weights.values.shape[1]
  guard weights.rowScale.count == n else {
    throw .shapeMismatch(context: "LLM.int8 weight statistics (SCB)", expected: [n], found: [weights.rowScale.count])
  }
  guard let inputColumns = input.shape.last, inputColumns == k else {
    throw .shapeMismatch(context: "LLM.int8 linear input features", expected: [k], found: input.shape)
  }
  let outputShape = Array(input.shape.dropLast()) + [n]
  if input.elementCount == 0 || k == 0 {
    return try Tensor(converting: [Float](repeating: 0, count: outputShape.reduce(1, *)), to: input.dtype, shape: outputShape)
  }
  let activations = try quantizeRowwise(input.converted(to: .float16), threshold: threshold)
  let product = try matmulInt8(activations.values, weights.values)
  let scaled = try dequantizeInt8Matmul(
    product, rowStats: activations.rowScale, columnStats: weights.rowScale, bias: bias, to: input.dtype, scale: scale)
  let outliers = activations.outlierColumns
  guard threshold > 0, !outliers.isEmpty else { return scaled }

  // Outlier columns in floating point, with the int8 weights dequantized and rounded to the input dtype.
  let x = try input.floats()
  let partial = try scaled.floats()
  let codes = try weights.values.scalars(as: Int8.self)
  let m = input.elementCount / k
  var subWeights = [Float](repeating: 0, count: n * outliers.count)
  for row in 0..<n {
    for (slot, column) in outliers.enumerated() {
      subWeights[row * outliers.count + slot] = Float(codes[row * k + column]) * weights.rowScale[row] * Int8Constants.inverse127
    }
  }
  let roundedWeights = try Tensor(converting: subWeights, to: input.dtype, shape: [n, outliers.count]).floats()
  var out = [Float](repeating: 0, count: m * n)
  for row in 0..<m {
    for column in 0..<n {
      var sum: Float = 0
      for (slot, feature) in outliers.enumerated() {
        sum = sum.addingProduct(x[row * k + feature], roundedWeights[column * outliers.count + slot])
      }
      out[row * n + column] = partial[row * n + column] + sum
    }
  }
  return try Tensor(converting: out, to: input.dtype, shape: outputShape)
}

/// Quantizes a weight as bitsandbytes' `Int8Params` does (round to float16, row-wise int8 with threshold
/// 0): ``Int8Format``'s `quantize`, returning the one currency of every format.
///
/// - Parameters:
///   - weight: A float32, float16 or bfloat16 weight `[out_features, in_features]`.
///   - backend: A backend to encode with (bit-identical, faster); `nil` runs the reference loops.
/// - Returns: A tensor with the ``StorageLayout/int8Rowwise(_:)`` layout.
/// - Throws: `QuantError` for an unsupported dtype or shape.
public func quantizeInt8(_ weight: Tensor, backend: (any KernelBackend)? = nil) throws(QuantError) -> QuantizedTensor {
  guard let backend else { return try Int8Format().quantize(weight, parameters: FormatParameters()) }
  return try Int8Format().quantize(weight, parameters: FormatParameters(), backend: backend)
}

/// ``int8Linear(_:weights:bias:threshold:scale:)`` with a quantized tensor of ``Int8Format``: the
/// LLM.int8 forward of `Linear8bitLt`, bit-identical to bitsandbytes' default backend.
///
/// - Parameters:
///   - input: Activations `[..., K]`.
///   - weight: An `int8` quantized tensor `[N, K]`.
///   - bias: Optional `[N]`.
///   - threshold: The activation outlier threshold (`llm_int8_threshold`).
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError.invalidState` for another layout, else what the forward throws.
public func int8Linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor? = nil, threshold: Double = 6.0) throws(QuantError)
  -> Tensor
{
  guard case .int8Rowwise(let weights) = weight.layout else {
    throw .invalidState("int8Linear needs an int8-rowwise weight, found '\(weight.format)' (\(weight.layout.kind))")
  }
  return try int8Linear(input, weights: weights, bias: bias, threshold: threshold)
}
