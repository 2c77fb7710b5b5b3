// The functional API: one currency (`QuantizedTensor`) for every format, one `linear` for every
// quantized weight, and the standard registry's preferred backend when none is given.

public import Blockwise4Bit
import FormatFP4
import FormatFP8
import FormatNF4
public import QuantCore

/// Quantizes a tensor with any format, through `backend`'s encoder (bit-identical to the format's
/// reference encoder, faster).
///
/// - Parameters:
///   - tensor: The tensor.
///   - format: The format (`NF4Format()`, `Int8Format()`, `FP8Format.e4m3`, a plugin's format).
///   - parameters: Values over the format's declared defaults.
///   - backend: The backend to encode with; `nil` is ``StandardRegistry/preferredBackend``.
/// - Returns: The quantized tensor.
/// - Throws: `QuantError` for unsupported input or parameters.
public func quantize(
  _ tensor: Tensor, format: any QuantizationFormat, parameters: FormatParameters = FormatParameters(),
  backend: (any KernelBackend)? = nil
) throws(QuantError) -> QuantizedTensor {
  // Values are checked by the format as it reads them; a name it does not declare would go unnoticed.
  for (name, value) in parameters.values.sorted(by: { $0.key < $1.key }) {
    if let problem = format.parameterProblem(named: name, value: value), problem.isUnknownName {
      throw .invalidArgument("\(problem.message); valid: \(problem.validChoices.joined(separator: ", "))")
    }
  }
  return try format.quantize(tensor, parameters: parameters, backend: backend ?? StandardRegistry.preferredBackend)
}

/// Quantizes a tensor with a format named in a registry (aliases and the registry's configured
/// defaults apply), through the registry's preferred backend.
///
/// - Parameters:
///   - tensor: The tensor.
///   - formatName: A registry name or alias (`"nf4"`, `"int8"`, `"fp8_e4m3"`, `"e4m3"`, …).
///   - parameters: Values over the registry's defaults.
///   - registry: Where to look the format up; `nil` builds the standard registry.
/// - Returns: The quantized tensor.
/// - Throws: `QuantError.invalidArgument` for an unknown or disabled format, else what the format throws.
public func quantize(
  _ tensor: Tensor, as formatName: String, parameters: FormatParameters = FormatParameters(), registry: QuantRegistry? = nil
) throws(QuantError) -> QuantizedTensor {
  let format: any QuantizationFormat
  let defaults: FormatParameters
  let backend: any KernelBackend
  do {
    let registry = try registry ?? StandardRegistry.make()
    format = try registry.format(named: formatName)
    defaults = try registry.defaultParameters(forFormat: formatName)
    backend = try registry.preferredBackend()
  } catch let error as RegistryError {
    throw .invalidArgument(error.description)
  } catch {
    throw .invalidArgument("\(error)")
  }
  return try quantize(tensor, format: format, parameters: parameters.merged(over: defaults), backend: backend)
}

/// Computes `input · weightᵀ + bias` with any quantized weight `[N, K]`, as `torch.nn.functional.linear`
/// (float32 accumulation, one rounding to the input's dtype).
///
/// - Parameters:
///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
///   - weight: A quantized weight of any format (the backend runs its layout's kernel).
///   - bias: Optional `[N]`.
///   - backend: Where to compute; `nil` is ``StandardRegistry/preferredBackend`` (Metal, else CPU).
/// - Returns: `[..., N]` in the input's dtype.
/// - Throws: `QuantError` on shape or dtype mismatches.
public func linear(
  _ input: Tensor, weight: QuantizedTensor, bias: Tensor? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Tensor {
  try (backend ?? StandardRegistry.preferredBackend).linear(input, weight: weight, bias: bias)
}

/// Decodes any quantized tensor (one rounding from float32).
///
/// - Parameters:
///   - tensor: A quantized tensor.
///   - dtype: The output dtype; `nil` is the original dtype.
///   - backend: Where to decode; `nil` is ``StandardRegistry/preferredBackend``.
/// - Returns: The decoded tensor with the logical shape.
/// - Throws: `QuantError` on inconsistent data or an unsupported dtype.
public func dequantize(
  _ tensor: QuantizedTensor, to dtype: DType? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Tensor {
  try (backend ?? StandardRegistry.preferredBackend).dequantize(tensor, to: dtype ?? tensor.originalDType)
}

// MARK: - The original package's names

/// bitsandbytes' `quantize_4bit(A, blocksize=64, compress_statistics=False, quant_type="fp4",
/// quant_storage=torch.uint8)`, with the same defaults (FP4, as bitsandbytes; NF4 is `quantType: .nf4`).
/// `NF4.quantize(_:)` and `FP4.quantize(_:)` are the same for one codebook.
///
/// - Parameters:
///   - tensor: float32, float16 or bfloat16, at least one element.
///   - blocksize: One of ``BlockwiseCodebookQuantizer/supportedBlocksizes``.
///   - compressStatistics: Double-quantize the absmax.
///   - quantType: `.fp4` (bitsandbytes' default) or `.nf4`.
///   - quantStorage: The dtype the packed bytes are viewed as.
///   - backend: The backend to encode with; `nil` is ``StandardRegistry/preferredBackend``.
/// - Returns: The quantized tensor.
/// - Throws: `QuantError` for an unsupported dtype, blocksize or storage, or an empty tensor.
public func quantize4bit(
  _ tensor: Tensor, blocksize: Int = Blockwise4BitCodec.defaultBlocksize, compressStatistics: Bool = false,
  quantType: BitsAndBytesConfig.QuantType = .fp4, quantStorage: DType = .uint8, backend: (any KernelBackend)? = nil
) throws(QuantError) -> QuantizedTensor {
  let codec = quantType == .nf4 ? NF4.codec : FP4.codec
  return try codec.quantize(
    tensor, blocksize: blocksize, doubleQuant: compressStatistics, quantStorage: quantStorage,
    backend: backend ?? StandardRegistry.preferredBackend)
}

/// bitsandbytes' `dequantize_4bit`: decodes any 4-bit codebook tensor (`code[nibble] · absmax` in float32,
/// one rounding).
///
/// - Parameters:
///   - tensor: A tensor with the ``StorageLayout/codebook4Bit(packed:state:)`` layout.
///   - dtype: The output dtype; `nil` is the original dtype.
///   - backend: Where to decode; `nil` is ``StandardRegistry/preferredBackend``.
/// - Returns: The decoded tensor.
/// - Throws: `QuantError.invalidState` for another layout, else what decoding throws.
public func dequantize4bit(
  _ tensor: QuantizedTensor, to dtype: DType? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Tensor {
  try dequantize(tensor.requiringFourBitLayout(), to: dtype, backend: backend)
}

/// bitsandbytes' `matmul_4bit`: ``linear(_:weight:bias:backend:)`` after checking the weight is a 4-bit
/// codebook tensor (NF4, FP4 or a third-party codebook).
///
/// - Throws: `QuantError.invalidState` for another layout, else what `linear` throws.
public func matmul4bit(
  _ input: Tensor, _ weight: QuantizedTensor, bias: Tensor? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Tensor {
  try linear(input, weight: weight.requiringFourBitLayout(), bias: bias, backend: backend)
}

/// Weight-only linear with fp8 E4M3FN weights: ``linear(_:weight:bias:backend:)`` after checking the
/// format; the activations keep their precision.
///
/// - Throws: `QuantError.invalidState` for a weight of another format, else what `linear` throws.
public func matmulFP8E4M3(
  _ input: Tensor, _ weight: QuantizedTensor, bias: Tensor? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Tensor {
  try linear(input, weight: weight.requiring(format: FP8Format.e4m3.name), bias: bias, backend: backend)
}

/// Weight-only linear with fp8 E5M2 weights (see ``matmulFP8E4M3(_:_:bias:backend:)``).
public func matmulFP8E5M2(
  _ input: Tensor, _ weight: QuantizedTensor, bias: Tensor? = nil, backend: (any KernelBackend)? = nil
) throws(QuantError) -> Tensor {
  try linear(input, weight: weight.requiring(format: FP8Format.e5m2.name), bias: bias, backend: backend)
}

extension QuantizedTensor {
  /// The tensor, after checking it was made by `format`.
  func requiring(format name: String) throws(QuantError) -> QuantizedTensor {
    guard format == name else { throw .invalidState("expected a '\(name)' weight, found '\(format)'") }
    return self
  }

  /// The tensor, after checking it has the 4-bit codebook layout.
  func requiringFourBitLayout() throws(QuantError) -> QuantizedTensor {
    guard case .codebook4Bit = layout else {
      throw .invalidState("expected a 4-bit codebook weight, found '\(format)' (\(layout.kind))")
    }
    return self
  }
}
