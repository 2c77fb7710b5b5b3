public import QuantCore

// LLM.int8 row-wise quantization, exactly as bitsandbytes' default (pure torch) backend computes it
// (`backends/default/ops.py`, `int8_vectorwise_quant` and `int8_vectorwise_dequant`).

/// The input dtypes LLM.int8 quantization accepts.
let rowwiseInputTypes: [DType] = [.float32, .float16, .bfloat16]

/// Quantizes each row of a tensor to int8 with its absolute maximum, as bitsandbytes'
/// `int8_vectorwise_quant(A, threshold)` does on the default backend.
///
/// For every row `r` (the last dimension is the columns; leading dimensions are flattened):
/// - `SCB[r] = max |A[r, :]|` in float32. When `threshold > 0`, elements with `|a| ≥ threshold` are
///   outliers: they are left out of the maximum and quantized as 0.
/// - `CB[r, c] = round_half_even(a · fl32(fl32(1 / SCB[r]) · 127))`, all in float32: torch evaluates
///   `127.0 / row_stats` (a Python float over a tensor) as `row_stats.reciprocal() * 127.0`, which is
///   not always the correctly rounded quotient.
/// - When `threshold > 0` and there is more than one row, every column that holds an outlier is zeroed
///   in all rows and reported in ``Int8RowwiseWeights/outlierColumns`` (ascending).
///
/// The comparison `|a| ≥ threshold` happens in the input's dtype, as torch compares a tensor with a
/// Python scalar: the threshold is first rounded to float16 or bfloat16 for such inputs.
/// Rows whose scale makes the product non-finite (an all-zero row: `0 · ∞`; a row of float32
/// subnormals: `127 / absmax = ∞`; a NaN or ∞ in the row) give 0, as torch's float → int8
/// conversion does on x86-64 (the machine the fixtures come from).
///
/// This is the primitive. bitsandbytes' `Int8Params` first rounds weights to float16 and uses
/// threshold 0; ``Int8Format/quantize(_:parameters:)`` does that for you.
///
/// - Parameters:
///   - tensor: A float32, float16 or bfloat16 tensor with at least one dimension; a 1-D tensor is one row.
///   - threshold: The outlier threshold; 0 (the default) disables outlier handling.
/// - Returns: `CB` (an `int8` tensor of the input's shape), `SCB` (one float32 absmax per row) and the
///   outlier columns (empty when `threshold` is 0 or nothing reached it).
/// - Throws: `QuantError.unsupportedDType` for other dtypes, `.invalidShape` for a scalar or a tensor
///   with no columns, `.emptyTensor` for no rows, `.invalidArgument` for a negative or NaN threshold.
public func quantizeRowwise(_ tensor: Tensor, threshold: Double = 0) throws(QuantError) -> Int8RowwiseWeights {
  guard rowwiseInputTypes.contains(tensor.dtype) else {
    throw .unsupportedDType(tensor.dtype, operation: "LLM.int8 row-wise quantization", supported: rowwiseInputTypes)
  }
  guard threshold >= 0 else {
    throw .invalidArgument("LLM.int8 threshold must be a non-negative number, found \(threshold)")
  }
  guard let columns = tensor.shape.last, columns > 0 else {
    throw .invalidShape(tensor.shape, reason: "LLM.int8 quantization needs at least one column")
  }
  guard tensor.elementCount > 0 else { throw .emptyTensor(context: "LLM.int8 row-wise quantization") }
  let rows = tensor.elementCount / columns
  let values = try tensor.floats()
  let result = RowwiseQuantizer(
    columns: columns, threshold: threshold > 0 ? Float(roundingThreshold: threshold, to: tensor.dtype) : nil
  ).quantize(values, rows: rows)
  let codes = try Tensor(dtype: .int8, shape: tensor.shape) { raw in
    result.codes.withUnsafeBytes { raw.copyMemory(from: $0) }
  }
  return Int8RowwiseWeights(values: codes, rowScale: result.rowScale, outlierColumns: result.outlierColumns)
}

/// Dequantizes LLM.int8 values: `CB · SCB · fl32(1/127)`, as bitsandbytes' `int8_vectorwise_dequant`.
///
/// The arithmetic is float32, evaluated left to right (`A * stats * 7.874015718698502e-3`), then
/// rounded once to `dtype`. It is the reference decoding of ``StorageLayout/int8Rowwise(_:)``.
///
/// - Parameters:
///   - weights: int8 values and their row absmax.
///   - dtype: The output dtype: `float32` (the default, as bitsandbytes returns), `float16` or `bfloat16`.
/// - Returns: A tensor with the shape of `weights.values`.
/// - Throws: `QuantError` when the values are not int8, the number of scales does not match the rows,
///   or `dtype` is not a float type.
public func dequantizeRowwise(_ weights: Int8RowwiseWeights, to dtype: DType = .float32) throws(QuantError) -> Tensor {
  try Tensor(converting: StorageLayout.int8Rowwise(weights).dequantizedFloats(), to: dtype, shape: weights.values.shape)
}

/// The arithmetic of `int8_vectorwise_quant` on float32 values (widened exactly from the input dtype).
struct RowwiseQuantizer {
  /// Columns per row.
  var columns: Int
  /// The outlier threshold already rounded to the input dtype, or `nil` when outliers are not handled.
  var threshold: Float?

  struct Output {
    var codes: [Int8]
    var rowScale: [Float]
    var outlierColumns: [Int]
  }

  func quantize(_ values: [Float], rows: Int) -> Output {
    var isOutlierColumn = [Bool](repeating: false, count: columns)
    var rowScale = [Float](repeating: 0, count: rows)
    var codes = [Int8](repeating: 0, count: rows * columns)
    for row in 0..<rows {
      let base = row * columns
      // torch.max propagates NaN; outliers were set to 0 before the maximum.
      var absmax: Float = 0
      for column in 0..<columns {
        let magnitude = abs(values[base + column])
        if let threshold, magnitude >= threshold {
          isOutlierColumn[column] = true
          continue
        }
        if magnitude.isNaN || absmax.isNaN {
          absmax = .nan
        } else if magnitude > absmax {
          absmax = magnitude
        }
      }
      rowScale[row] = absmax
      let factor = (1 / absmax) * 127  // torch: row_stats.reciprocal() * 127.0
      for column in 0..<columns {
        let value = values[base + column]
        if let threshold, abs(value) >= threshold { continue }  // the outlier was zeroed before rounding
        codes[base + column] = RowwiseQuantizer.int8(converting: (value * factor).rounded(.toNearestOrEven))
      }
    }
    let outlierColumns = isOutlierColumn.indices.filter { isOutlierColumn[$0] }
    if rows > 1 {
      for row in 0..<rows {
        for column in outlierColumns { codes[row * columns + column] = 0 }
      }
    }
    return Output(codes: codes, rowScale: rowScale, outlierColumns: outlierColumns)
  }

  /// torch's float → int8 cast on x86-64: through int32 (NaN and out-of-range values give
  /// `Int32.min`), then truncated to 8 bits.
  static func int8(converting value: Float) -> Int8 {
    guard value.isFinite, value > -2_147_483_648, value < 2_147_483_648 else { return 0 }
    return Int8(truncatingIfNeeded: Int32(value))
  }
}

extension Float {
  /// A Python-float threshold as torch compares it with a tensor of `dtype`: rounded to that dtype.
  init(roundingThreshold threshold: Double, to dtype: DType) {
    let single = Float(threshold)
    switch dtype {
    case .float16: self = HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(single))
    case .bfloat16: self = HalfPrecision.float(bfloat16Bits: HalfPrecision.bfloat16Bits(single))
    default: self = single
    }
  }
}
