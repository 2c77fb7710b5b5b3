public import DoubleQuant
import QuantCore

/// The NF4 quantization format, bit-identical to bitsandbytes' default backend and stored as transformers
/// saves `bnb_4bit_quant_type="nf4"` weights.
///
/// Parameters: `blocksize` (32 … 4096, default 64), `double_quant` (default `false`) and `quant_storage`
/// (`uint8` default; `int8`, `float16`, `bfloat16`, `float32`, `float64` view the same bytes), and
/// `double_quant_rule` (`default`, or `cpu` to write the nested codes a CPU build of bitsandbytes writes).
public struct NF4Format: Codebook4BitFormat {
  /// Creates the format.
  public init() {}

  /// The NF4 codec.
  public var codec: Blockwise4BitCodec { NF4.codec }
  /// One line for listings.
  public var summary: String { "4-bit NormalFloat with blockwise absmax (bitsandbytes nf4)" }
  /// NF4 checkpoints load in transformers + bitsandbytes unchanged.
  public var isBitsAndBytesCompatible: Bool { true }
}
