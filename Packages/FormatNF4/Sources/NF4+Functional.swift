public import DoubleQuant
public import QuantCore

/// Quantizes a tensor to NF4 (bitsandbytes' `quantize_4bit(..., quant_type="nf4")`, default backend).
///
/// - Parameters:
///   - tensor: float32, float16 or bfloat16, at least one element.
///   - blocksize: 32, 64, 128, 256, 512, 1024, 2048 or 4096.
///   - doubleQuant: Whether to double-quantize the absmax (`compress_statistics`).
///   - quantStorage: The dtype the packed bytes are viewed as (default `uint8`).
///   - doubleQuantRule: Which bitsandbytes 8-bit kernel picks the nested codes (default: the default backend).
/// - Returns: The quantized tensor.
/// - Throws: `QuantError` for an unsupported dtype, blocksize or storage, or an empty tensor.
public func quantizeNF4(
  _ tensor: Tensor, blocksize: Int = Blockwise4BitCodec.defaultBlocksize, doubleQuant: Bool = false,
  quantStorage: DType = .uint8, doubleQuantRule: Blockwise8Rule = .defaultBackend
) throws(QuantError) -> QuantizedTensor {
  try NF4.codec.quantize(
    tensor, blocksize: blocksize, doubleQuant: doubleQuant, quantStorage: quantStorage, nestedRule: doubleQuantRule)
}

/// Decodes an NF4 tensor (bitsandbytes' `dequantize_4bit`): `code[nibble] * absmax` in float32, one rounding.
///
/// - Parameters:
///   - tensor: An NF4 tensor.
///   - dtype: The output dtype; `nil` means the original dtype.
/// - Returns: The decoded tensor with the original shape.
/// - Throws: `QuantError` for another format, inconsistent state or an unsupported dtype.
public func dequantizeNF4(_ tensor: QuantizedTensor, to dtype: DType? = nil) throws(QuantError) -> Tensor {
  guard tensor.format == NF4.name else { throw .invalidState("dequantizeNF4 got a '\(tensor.format)' tensor") }
  return try NF4.codec.dequantize(tensor, to: dtype)
}

/// Computes `input · weightᵀ + bias` with NF4 weights `[N, K]` (bitsandbytes' `matmul_4bit`).
///
/// - Parameters:
///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
///   - weight: An NF4 tensor with shape `[N, K]`.
///   - bias: Optional `[N]`.
///   - backend: Where to compute (default: the reference loops).
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError` for another format or mismatched shapes.
public func matmulNF4(
  _ input: Tensor, _ weight: QuantizedTensor, bias: Tensor? = nil, backend: any KernelBackend = ReferenceBackend()
) throws(QuantError) -> Tensor {
  guard weight.format == NF4.name else { throw .invalidState("matmulNF4 got a '\(weight.format)' weight") }
  return try backend.linear(input, weight: weight, bias: bias)
}
