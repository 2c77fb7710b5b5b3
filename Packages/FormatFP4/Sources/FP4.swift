// FP4 is the shared 4-bit machinery with a codebook: its API (FP4Format, FP4.codec, …) is that module's, re-exported.
@_exported public import Blockwise4Bit
public import QuantCore

/// FP4: bitsandbytes' 4-bit float (1 sign, 2 exponent, 1 mantissa bit, one subnormal), divided by 12.
///
/// The codebook is `get_4bit_type("fp4")` as bitsandbytes 0.50 stores it in checkpoints, shipped as
/// float32 bit patterns. Bit 3 is the sign. Index 8 is **+0.0** here, as in the Python table (bitsandbytes'
/// CUDA and C++ tables hold -0.0, so their decoded zeros can differ in sign only). The default backend
/// selects indices by bucketizing the signed, sorted codebook, which differs from CUDA's decision tree at
/// a few thresholds and in the sign of tiny values (spec §2.2).
public enum FP4: FourBitCodebook {
  /// The FP4 codec.
  public static let codec = Blockwise4BitCodec(
    constantTable: "fp4",
    bitPatterns: [
      0x0000_0000, 0x3baa_aaab, 0x3f2a_aaab, 0x3f80_0000, 0x3eaa_aaab, 0x3f00_0000, 0x3e2a_aaab, 0x3e80_0000,
      0x0000_0000, 0xbbaa_aaab, 0xbf2a_aaab, 0xbf80_0000, 0xbeaa_aaab, 0xbf00_0000, 0xbe2a_aaab, 0xbe80_0000,
    ])
  /// One line for listings.
  public static let summary = "4-bit float (E2M1 with a subnormal) with blockwise absmax (bitsandbytes fp4)"
  /// `bnb-fp4`.
  public static let aliases = ["bnb-fp4"]
  /// transformers' `bnb_4bit_quant_type: fp4` (its default).
  public static let bitsAndBytesQuantType: BitsAndBytesConfig.QuantType? = .fp4
}

/// The FP4 format, bit-identical to bitsandbytes' default backend and stored as transformers saves
/// `bnb_4bit_quant_type="fp4"` weights.
public typealias FP4Format = Codebook4BitFormat<FP4>

/// Registers ``FP4Format`` (alias `bnb-fp4`).
public typealias FP4Plugin = Codebook4BitPlugin<FP4>
