// NF4 is the shared 4-bit machinery with a codebook: its API (NF4Format, NF4.codec, …) is that module's, re-exported.
@_exported public import Blockwise4Bit
public import QuantCore

/// NF4 ("normal float 4"): 16 values at the quantiles of a normal distribution, normalised to [-1, 1].
///
/// The codebook is bitsandbytes' `get_4bit_type("nf4")`, shipped as float32 bit patterns. It is sorted,
/// asymmetric (7 negative values, zero, 8 positive values) and identical in bitsandbytes' Python, CUDA
/// and C++ tables. Everything else is the shared blockwise 4-bit machinery of `Blockwise4Bit`.
public enum NF4: FourBitCodebook {
  /// The NF4 codec.
  public static let codec = Blockwise4BitCodec(
    constantTable: "nf4",
    bitPatterns: [
      0xbf80_0000, 0xbf32_39b1, 0xbf06_6b30, 0xbeca_32a0, 0xbe91_a24d, 0xbe3d_353f, 0xbdba_7871, 0x0000_0000,
      0x3da2_faff, 0x3e24_cae3, 0x3e7c_04dd, 0x3ead_033a, 0x3ee1_a4b8, 0x3f10_07ab, 0x3f39_13b3, 0x3f80_0000,
    ])
  /// One line for listings.
  public static let summary = "4-bit NormalFloat with blockwise absmax (bitsandbytes nf4)"
  /// `bnb-nf4`.
  public static let aliases = ["bnb-nf4"]
  /// transformers' `bnb_4bit_quant_type: nf4`.
  public static let bitsAndBytesQuantType: BitsAndBytesConfig.QuantType? = .nf4
}

/// The NF4 format, bit-identical to bitsandbytes' default backend and stored as transformers saves
/// `bnb_4bit_quant_type="nf4"` weights.
public typealias NF4Format = Codebook4BitFormat<NF4>

/// Registers ``NF4Format`` (alias `bnb-nf4`).
public typealias NF4Plugin = Codebook4BitPlugin<NF4>
