public import QuantCore

// Scaled fp8 quantization (transformers' fine-grained FP8 rule, `integrations/finegrained_fp8.py`,
// `Fp8Quantize._quantize_one`), its reference decoding and a weight-only fp8 linear.

/// The input dtypes fp8 quantization accepts.
let float8InputTypes: [DType] = [.float32, .float16, .bfloat16]

/// Quantizes a tensor to fp8 with scales of the given granularity.
///
/// Per scale group (see ``Float8ScaleGranularity``), with float32 arithmetic as torch evaluates it:
/// `absmax = max |x|` (NaN propagates), `scale = fl32(fl32(1 / absmax) · maxFinite)` when `absmax > 0`
/// (torch evaluates transformers' `fmax / absmax` as a reciprocal then a multiply), else 1;
/// `q = encode(clamp(x · scale, −maxFinite, maxFinite))` with round-to-nearest-even; the stored
/// multiplier is `fl32(1 / scale)` (transformers' `weight_scale_inv`). For `.tile(128, 128)` and E4M3
/// this is byte for byte what transformers' fine-grained FP8 quantizer writes.
///
/// Because of the clamp, no finite value overflows in the scaled modes; `overflow` only matters for
/// ``Float8ScaleGranularity/unscaled`` (a plain cast), where it decides what happens beyond the range.
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor; the last dimension is the columns and leading
///     dimensions are flattened into rows (a scalar or 1-D tensor is a single row).
///   - encoding: E4M3FN or E5M2.
///   - granularity: Which elements share a scale.
///   - overflow: The overflow policy of the cast; `nil` uses torch 2.13's (saturate for E4M3FN,
///     IEEE infinities for E5M2).
/// - Returns: The fp8 values (dtype `float8_e4m3fn` / `float8_e5m2`, the input's shape) and multipliers.
/// - Throws: `QuantError.unsupportedDType` for other input dtypes, `.emptyTensor` for no elements,
///   `.invalidArgument` for a non-positive tile.
public func quantizeFP8(
  _ tensor: Tensor, encoding: Float8Encoding, granularity: Float8ScaleGranularity = .fineGrained,
  overflow: Float8OverflowPolicy? = nil
) throws(QuantError) -> Float8Weights {
  guard float8InputTypes.contains(tensor.dtype) else {
    throw .unsupportedDType(tensor.dtype, operation: "fp8 quantization", supported: float8InputTypes)
  }
  guard tensor.elementCount > 0 else { throw .emptyTensor(context: "fp8 quantization") }
  let values = try tensor.floats()
  let columns = max(tensor.shape.last ?? 1, 1)
  let rows = values.count / columns
  let quantizer = Float8Quantizer(encoding: encoding, overflow: overflow)
  var codes = [UInt8](repeating: 0, count: values.count)
  let scales: Float8Scales
  switch granularity {
  case .unscaled:
    for i in values.indices { codes[i] = encoding.encode(values[i], overflow: overflow) }
    scales = .tensor(1)
  case .tensor:
    let inverse = quantizer.quantizeGroup(values, codes: &codes, rows: 0..<rows, columns: 0..<columns, stride: columns)
    scales = .tensor(inverse)
  case .row:
    scales = .rows(
      (0..<rows).map { row in
        quantizer.quantizeGroup(values, codes: &codes, rows: row..<(row + 1), columns: 0..<columns, stride: columns)
      })
  case .tile(let tileRows, let tileColumns):
    guard tileRows > 0, tileColumns > 0 else {
      throw .invalidArgument("fp8 tile size must be positive, found \(tileRows)×\(tileColumns)")
    }
    var inverses: [Float] = []
    for rowStart in stride(from: 0, to: rows, by: tileRows) {
      for columnStart in stride(from: 0, to: columns, by: tileColumns) {
        inverses.append(
          quantizer.quantizeGroup(
            values, codes: &codes, rows: rowStart..<min(rowStart + tileRows, rows),
            columns: columnStart..<min(columnStart + tileColumns, columns), stride: columns))
      }
    }
    scales = .tiles(tileRows: tileRows, tileColumns: tileColumns, values: inverses)
  }
  let stored = try Tensor(dtype: encoding.dtype, shape: tensor.shape) { $0.copyBytes(from: codes) }
  return Float8Weights(values: stored, encoding: encoding, scales: scales)
}

/// Decodes fp8 weights: `decode(q) · multiplier` in float32, then one rounding to `dtype`.
///
/// transformers' own dequantization (`_dequantize_fp8_weight`) multiplies after converting both factors
/// to the target dtype; for float32 output the two agree exactly, for bfloat16/float16 ours rounds once.
///
/// - Parameters:
///   - weights: fp8 values and multipliers.
///   - dtype: `float32` (the default), `float16` or `bfloat16`.
/// - Returns: A tensor with the shape of `weights.values`.
/// - Throws: `QuantError` when the values' dtype does not match the encoding or the scales do not fit.
public func dequantizeFP8(_ weights: Float8Weights, to dtype: DType = .float32) throws(QuantError) -> Tensor {
  try Tensor(converting: StorageLayout.float8(weights).dequantizedFloats(), to: dtype, shape: weights.values.shape)
}

/// Computes `input · Wᵀ + bias` with fp8 weights, weight-only: the weights are decoded to float32 and
/// the activations keep their precision (no dynamic activation quantization, unlike transformers' GPU
/// kernels). Accumulation is float32 in `K` order; the result is rounded once to the input's dtype.
///
/// - Parameters:
///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
///   - weights: fp8 weights `[N, K]`.
///   - bias: Optional `[N]`.
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError` on shape or dtype mismatches.
public func matmulFP8(_ input: Tensor, weights: Float8Weights, bias: Tensor? = nil) throws(QuantError) -> Tensor {
  let tensor = QuantizedTensor(
    format: "fp8_\(weights.encoding)", shape: weights.values.shape, originalDType: input.dtype, layout: .float8(weights))
  return try ReferenceBackend().linear(input, weight: tensor, bias: bias)
}

/// Converts a tensor to fp8 without scaling (torch's `tensor.to(torch.float8_*)`).
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor.
///   - encoding: E4M3FN or E5M2.
///   - overflow: The overflow policy; `nil` uses torch 2.13's.
/// - Returns: A `float8_e4m3fn` or `float8_e5m2` tensor of the same shape.
/// - Throws: `QuantError.unsupportedDType` for other input dtypes.
public func castToFP8(_ tensor: Tensor, encoding: Float8Encoding, overflow: Float8OverflowPolicy? = nil) throws(QuantError)
  -> Tensor
{
  try quantizeFP8(tensor, encoding: encoding, granularity: .unscaled, overflow: overflow).values
}

// MARK: - E4M3 and E5M2 entry points

/// Quantizes to fp8 E4M3FN (transformers' fine-grained FP8 with the default 128 × 128 tiles).
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor.
///   - granularity: Which elements share a scale; 128 × 128 tiles by default.
///   - overflow: The cast's overflow policy; `nil` saturates to ±448, as torch 2.13 does.
/// - Returns: `float8_e4m3fn` values and their multipliers.
/// - Throws: See ``quantizeFP8(_:encoding:granularity:overflow:)``.
public func quantizeFP8E4M3(
  _ tensor: Tensor, granularity: Float8ScaleGranularity = .fineGrained, overflow: Float8OverflowPolicy? = nil
) throws(QuantError) -> Float8Weights {
  try quantizeFP8(tensor, encoding: .e4m3, granularity: granularity, overflow: overflow)
}

/// Decodes E4M3FN weights (see ``dequantizeFP8(_:to:)``).
///
/// - Parameters:
///   - weights: E4M3FN values and multipliers.
///   - dtype: The output dtype, float32 by default.
/// - Returns: The decoded tensor.
/// - Throws: `QuantError.invalidArgument` when `weights` are not E4M3FN, or what ``dequantizeFP8(_:to:)`` throws.
public func dequantizeFP8E4M3(_ weights: Float8Weights, to dtype: DType = .float32) throws(QuantError) -> Tensor {
  try weights.require(.e4m3)
  return try dequantizeFP8(weights, to: dtype)
}

/// Weight-only linear with E4M3FN weights (see ``matmulFP8(_:weights:bias:)``).
///
/// - Parameters:
///   - input: Activations `[..., K]`.
///   - weights: E4M3FN weights `[N, K]`.
///   - bias: Optional `[N]`.
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError.invalidArgument` when `weights` are not E4M3FN, or shape and dtype errors.
public func matmulFP8E4M3(_ input: Tensor, weights: Float8Weights, bias: Tensor? = nil) throws(QuantError) -> Tensor {
  try weights.require(.e4m3)
  return try matmulFP8(input, weights: weights, bias: bias)
}

/// Quantizes to fp8 E5M2.
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor.
///   - granularity: Which elements share a scale; 128 × 128 tiles by default.
///   - overflow: The cast's overflow policy; `nil` rounds to ±inf beyond 57344, as torch does.
/// - Returns: `float8_e5m2` values and their multipliers.
/// - Throws: See ``quantizeFP8(_:encoding:granularity:overflow:)``.
public func quantizeFP8E5M2(
  _ tensor: Tensor, granularity: Float8ScaleGranularity = .fineGrained, overflow: Float8OverflowPolicy? = nil
) throws(QuantError) -> Float8Weights {
  try quantizeFP8(tensor, encoding: .e5m2, granularity: granularity, overflow: overflow)
}

/// Decodes E5M2 weights (see ``dequantizeFP8(_:to:)``).
///
/// - Parameters:
///   - weights: E5M2 values and multipliers.
///   - dtype: The output dtype, float32 by default.
/// - Returns: The decoded tensor.
/// - Throws: `QuantError.invalidArgument` when `weights` are not E5M2, or what ``dequantizeFP8(_:to:)`` throws.
public func dequantizeFP8E5M2(_ weights: Float8Weights, to dtype: DType = .float32) throws(QuantError) -> Tensor {
  try weights.require(.e5m2)
  return try dequantizeFP8(weights, to: dtype)
}

/// Weight-only linear with E5M2 weights (see ``matmulFP8(_:weights:bias:)``).
///
/// - Parameters:
///   - input: Activations `[..., K]`.
///   - weights: E5M2 weights `[N, K]`.
///   - bias: Optional `[N]`.
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError.invalidArgument` when `weights` are not E5M2, or shape and dtype errors.
public func matmulFP8E5M2(_ input: Tensor, weights: Float8Weights, bias: Tensor? = nil) throws(QuantError) -> Tensor {
  try weights.require(.e5m2)
  return try matmulFP8(input, weights: weights, bias: bias)
}

extension Float8Weights {
  func require(_ encoding: Float8Encoding) throws(QuantError) {
    guard self.encoding == encoding else {
      throw .invalidArgument("expected \(encoding) fp8 weights, found \(self.encoding)")
    }
  }
}

/// The per-group arithmetic of transformers' `Fp8Quantize._quantize_one` (scale_fmt "float").
struct Float8Quantizer {
  var encoding: Float8Encoding
  var overflow: Float8OverflowPolicy?

  /// Quantizes one rectangular group and returns its multiplier `1 / scale`.
  func quantizeGroup(
    _ values: [Float], codes: inout [UInt8], rows: Range<Int>, columns: Range<Int>, stride: Int
  ) -> Float {
    var absmax: Float = 0
    for row in rows {
      for column in columns {
        let magnitude = abs(values[row * stride + column])
        if magnitude.isNaN || absmax.isNaN {
          absmax = .nan  // torch's amax propagates NaN
        } else if magnitude > absmax {
          absmax = magnitude
        }
      }
    }
    let limit = encoding.maxFinite
    // torch.where(max_abs > 0, fmax / max_abs, 1): NaN and zero groups get scale 1. torch evaluates
    // `python_float / tensor` as `tensor.reciprocal() * python_float`: two float32 roundings.
    let scale: Float = absmax > 0 ? (1 / absmax) * limit : 1
    for row in rows {
      for column in columns {
        let index = row * stride + column
        var scaled = values[index] * scale
        if !scaled.isNaN { scaled = Swift.min(Swift.max(scaled, -limit), limit) }  // torch.clamp keeps NaN
        codes[index] = encoding.encode(scaled, overflow: overflow)
      }
    }
    return 1 / scale
  }
}
