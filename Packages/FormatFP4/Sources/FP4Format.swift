public import DoubleQuant
import QuantCore

/// The FP4 quantization format, bit-identical to bitsandbytes' default backend and stored as transformers
/// saves `bnb_4bit_quant_type="fp4"` weights.
///
/// Parameters: `blocksize` (32 … 4096, default 64), `double_quant` (default `false`) and `quant_storage`
/// (`uint8` default; `int8`, `float16`, `bfloat16`, `float32`, `float64` view the same bytes), and
/// `double_quant_rule` (`default`, or `cpu` to write the nested codes a CPU build of bitsandbytes writes).
public struct FP4Format: Codebook4BitFormat {
  /// Creates the format.
  public init() {}

  /// The FP4 codec.
  public var codec: Blockwise4BitCodec { FP4.codec }
  /// One line for listings.
  public var summary: String { "4-bit float (E2M1 with a subnormal) with blockwise absmax (bitsandbytes fp4)" }
  /// FP4 checkpoints load in transformers + bitsandbytes unchanged.
  public var isBitsAndBytesCompatible: Bool { true }
}
