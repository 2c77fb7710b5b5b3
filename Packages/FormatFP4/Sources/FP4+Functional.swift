public import DoubleQuant
public import QuantCore

/// Quantizes a tensor to FP4 (bitsandbytes' `quantize_4bit(..., quant_type="fp4")`, default backend).
///
/// - Parameters:
///   - tensor: float32, float16 or bfloat16, at least one element.
///   - blocksize: 32, 64, 128, 256, 512, 1024, 2048 or 4096.
///   - doubleQuant: Whether to double-quantize the absmax (`compress_statistics`).
///   - quantStorage: The dtype the packed bytes are viewed as (default `uint8`).
///   - doubleQuantRule: Which bitsandbytes 8-bit kernel picks the nested codes (default: the default backend).
/// - Returns: The quantized tensor.
/// - Throws: `QuantError` for an unsupported dtype, blocksize or storage, or an empty tensor.
public func quantizeFP4(
  _ tensor: Tensor, blocksize: Int = Blockwise4BitCodec.defaultBlocksize, doubleQuant: Bool = false,
  quantStorage: DType = .uint8, doubleQuantRule: Blockwise8Rule = .defaultBackend
) throws(QuantError) -> QuantizedTensor {
  try FP4.codec.quantize(
    tensor, blocksize: blocksize, doubleQuant: doubleQuant, quantStorage: quantStorage, nestedRule: doubleQuantRule)
}

/// Decodes an FP4 tensor (bitsandbytes' `dequantize_4bit`): `code[nibble] * absmax` in float32, one rounding.
///
/// - Parameters:
///   - tensor: An FP4 tensor.
///   - dtype: The output dtype; `nil` means the original dtype.
/// - Returns: The decoded tensor with the original shape.
/// - Throws: `QuantError` for another format, inconsistent state or an unsupported dtype.
public func dequantizeFP4(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
  guard tensor.format == FP4.name else { throw .invalidState("dequantizeFP4 got a '\(tensor.format)' tensor") }
  return try FP4.codec.dequantize(tensor, to: dtype)
}

/// Computes `input · weightᵀ + bias` with FP4 weights `[N, K]` (bitsandbytes' `matmul_4bit`).
///
/// - Parameters:
///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
///   - weight: An FP4 tensor with shape `[N, K]`.
///   - bias: Optional `[N]`.
///   - backend: Where to compute (default: the reference loops).
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError` for another format or mismatched shapes.
public func matmulFP4(
  _ input: Tensor, _ weight: QuantizedTensor, bias: Tensor? = nil, backend: any KernelBackend = ReferenceBackend()
) throws(QuantError) -> Tensor {
  guard weight.format == FP4.name else { throw .invalidState("matmulFP4 got a '\(weight.format)' weight") }
  return try backend.linear(input, weight: weight, bias: bias)
}
