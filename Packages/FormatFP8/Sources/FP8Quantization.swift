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
  overflow: Float8OverflowPolicy? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Float8Weights {
  guard float8InputTypes.contains(tensor.dtype) else {
    throw .unsupportedDType(tensor.dtype, operation: "fp8 quantization", supported: float8InputTypes)
  }
  guard tensor.elementCount > 0 else { throw .emptyTensor(context: "fp8 quantization") }
  let values = try tensor.floats()
  let columns = max(tensor.shape.last ?? 1, 1)
  let rows = values.count / columns
  let grid: (rows: Int, columns: Int)
  switch granularity {
  case .unscaled, .tensor: grid = (rows, columns)
  case .row: grid = (1, columns)
  case .tile(let tileRows, let tileColumns):
    guard tileRows > 0, tileColumns > 0 else {
      throw .invalidArgument("fp8 tile size must be positive, found \(tileRows)×\(tileColumns)")
    }
    grid = (tileRows, tileColumns)
  }
  let quantizer = Float8Quantizer(encoding: encoding, overflow: overflow)
  // One multiplier per group, row-major over the grid (the unscaled cast multiplies by 1, unclamped).
  var multipliers: [Float] = []
  for rowStart in stride(from: 0, to: rows, by: grid.rows) {
    for columnStart in stride(from: 0, to: columns, by: grid.columns) {
      multipliers.append(
        granularity == .unscaled
          ? 1
          : quantizer.scale(
            values, rows: rowStart..<min(rowStart + grid.rows, rows),
            columns: columnStart..<min(columnStart + grid.columns, columns), stride: columns))
    }
  }
  var encoded = false
  let stored = try Tensor(dtype: encoding.dtype, shape: tensor.shape) { codes in
    values.withUnsafeBufferPointer { input in
      multipliers.withUnsafeBufferPointer { scales in
        // Backends encode with torch's default overflow policy; another policy runs the reference loop.
        if overflow == nil || overflow == FP8Format(encoding: encoding).defaultOverflow, let backend {
          encoded = backend.encode(
            .float8(
              values: input, columns: columns, tileRows: grid.rows, tileColumns: grid.columns, multipliers: scales,
              encoding: encoding, clampToFinite: granularity != .unscaled, codes: codes))
        }
        if !encoded {
          quantizer.encode(input, columns: columns, grid: grid, multipliers: scales, clamp: granularity != .unscaled, into: codes)
        }
      }
    }
  }
  let scales: Float8Scales
  switch granularity {
  case .unscaled: scales = .tensor(1)
  case .tensor: scales = .tensor(1 / multipliers[0])
  case .row: scales = .rows(multipliers.map { 1 / $0 })
  case .tile(let tileRows, let tileColumns):
    scales = .tiles(tileRows: tileRows, tileColumns: tileColumns, values: multipliers.map { 1 / $0 })
  }
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

// MARK: - E4M3 and E5M2 entry points (the format's quantize and dequantize, by encoding)

/// Quantizes to fp8 E4M3FN: transformers' fine-grained FP8 with 128 × 128 tiles by default, overflow
/// saturating to ±448 (torch 2.13). ``FP8Format/e4m3``'s `quantize` with these settings.
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor.
///   - granularity: Which elements share a scale.
///   - overflow: The cast's overflow policy; `nil` is torch 2.13's.
///   - backend: A backend to encode with (bit-identical); `nil` runs the reference loops.
/// - Returns: The quantized tensor (layout ``StorageLayout/float8(_:)``), like every format's quantize.
/// - Throws: See ``quantizeFP8(_:encoding:granularity:overflow:backend:)``.
public func quantizeFP8E4M3(
  _ tensor: Tensor, granularity: Float8ScaleGranularity = .fineGrained, overflow: Float8OverflowPolicy? = nil,
  backend: (any KernelBackend)? = nil
) throws(QuantError) -> QuantizedTensor {
  try FP8Format.e4m3.quantize(tensor, granularity: granularity, overflow: overflow, backend: backend)
}

/// Quantizes to fp8 E5M2 (overflow to ±inf beyond 57344 by default, as torch). ``FP8Format/e5m2``'s
/// `quantize`; see ``quantizeFP8E4M3(_:granularity:overflow:backend:)`` for the parameters.
public func quantizeFP8E5M2(
  _ tensor: Tensor, granularity: Float8ScaleGranularity = .fineGrained, overflow: Float8OverflowPolicy? = nil,
  backend: (any KernelBackend)? = nil
) throws(QuantError) -> QuantizedTensor {
  try FP8Format.e5m2.quantize(tensor, granularity: granularity, overflow: overflow, backend: backend)
}

/// Decodes an E4M3FN tensor: `decode(q) · multiplier` in float32, one rounding to `dtype`.
///
/// - Parameters:
///   - tensor: A tensor of ``FP8Format/e4m3``.
///   - dtype: The output dtype; `nil` is the original dtype.
/// - Returns: The decoded tensor.
/// - Throws: `QuantError.invalidState` for another format, or inconsistent scales.
public func dequantizeFP8E4M3(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
  try FP8Format.e4m3.dequantizeChecked(tensor, to: dtype)
}

/// Decodes an E5M2 tensor (see ``dequantizeFP8E4M3(_:to:)``).
public func dequantizeFP8E5M2(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
  try FP8Format.e5m2.dequantizeChecked(tensor, to: dtype)
}

extension FP8Format {
  /// Quantizes with explicit settings (the typed form of ``quantize(_:parameters:)``).
  func quantize(
    _ tensor: Tensor, granularity: Float8ScaleGranularity, overflow: Float8OverflowPolicy?, backend: (any KernelBackend)?
  ) throws(QuantError) -> QuantizedTensor {
    let weights = try quantizeFP8(tensor, encoding: encoding, granularity: granularity, overflow: overflow, backend: backend)
    return QuantizedTensor(format: name, shape: tensor.shape, originalDType: tensor.dtype, layout: .float8(weights))
  }

  /// Decodes after checking the tensor is this format's.
  func dequantizeChecked(_ tensor: QuantizedTensor, to dtype: DType?) throws(QuantError) -> Tensor {
    guard tensor.format == name, case .float8(let weights) = tensor.layout, weights.encoding == encoding else {
      throw .invalidState("expected a '\(name)' tensor, found '\(tensor.format)' (\(tensor.layout.kind))")
    }
    return try dequantizeFP8(weights, to: dtype ?? tensor.originalDType)
  }
}

/// The per-group arithmetic of transformers' `Fp8Quantize._quantize_one` (scale_fmt "float").
struct Float8Quantizer {
  var encoding: Float8Encoding
  var overflow: Float8OverflowPolicy?

  /// The multiplier of one rectangular group: `fl32(fl32(1 / absmax) · maxFinite)`, or 1 for an
  /// all-zero or NaN group (torch's `where(max_abs > 0, fmax / max_abs, 1)`; `python_float / tensor`
  /// is evaluated as `tensor.reciprocal() * python_float`: two float32 roundings).
  func scale(_ values: [Float], rows: Range<Int>, columns: Range<Int>, stride: Int) -> Float {
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
    return absmax > 0 ? (1 / absmax) * encoding.maxFinite : 1
  }

  /// The reference encoder: `encode(clamp(x · multiplier, −maxFinite, maxFinite))` per element (no clamp
  /// for the plain cast), the multiplier of the element's tile of the grid.
  func encode(
    _ values: UnsafeBufferPointer<Float>, columns: Int, grid: (rows: Int, columns: Int), multipliers: UnsafeBufferPointer<Float>,
    clamp: Bool, into codes: UnsafeMutableRawBufferPointer
  ) {
    let limit = encoding.maxFinite
    let gridColumns = columns.dividedRoundingUp(by: grid.columns)
    for index in values.indices {
      let row = index / columns
      let column = index % columns
      guard clamp else {
        codes[index] = encoding.encode(values[index], overflow: overflow)  // the plain cast
        continue
      }
      var scaled = values[index] * multipliers[(row / grid.rows) * gridColumns + column / grid.columns]
      if !scaled.isNaN { scaled = Swift.min(Swift.max(scaled, -limit), limit) }  // torch.clamp keeps NaN
      codes[index] = encoding.encode(scaled, overflow: overflow)
    }
  }
}
