public import DoubleQuant

/// FP4: bitsandbytes' 4-bit float (1 sign, 2 exponent, 1 mantissa bit, one subnormal), divided by 12.
///
/// The codebook is `get_4bit_type("fp4")` as bitsandbytes 0.50 stores it in checkpoints, shipped as
/// float32 bit patterns. Bit 3 is the sign. Index 8 is **+0.0** here, as in the Python table (bitsandbytes'
/// CUDA and C++ tables hold -0.0, so their decoded zeros can differ in sign only). The default backend
/// selects indices by bucketizing the signed, sorted codebook, which differs from CUDA's decision tree at
/// a few thresholds and in the sign of tiny values (spec §2.2).
public enum FP4 {
  /// The format and quant-type name, `"fp4"`.
  public static let name = "fp4"

  /// The codebook, index → value.
  public static let codebook: [Float] = codebookBits.map(Float.init(bitPattern:))

  /// Whether FP4 can run here: always, the reference implementation needs nothing native.
  public static let isAvailable = true

  /// The shared 4-bit machinery configured with the FP4 codebook.
  public static let codec: Blockwise4BitCodec = {
    do {
      return try Blockwise4BitCodec(quantType: name, code: codebook)
    } catch {
      preconditionFailure("the built-in FP4 codebook is 16 finite values: \(error)")
    }
  }()

  static let codebookBits: [UInt32] = [
    0x0000_0000, 0x3baa_aaab, 0x3f2a_aaab, 0x3f80_0000,
    0x3eaa_aaab, 0x3f00_0000, 0x3e2a_aaab, 0x3e80_0000,
    0x0000_0000, 0xbbaa_aaab, 0xbf2a_aaab, 0xbf80_0000,
    0xbeaa_aaab, 0xbf00_0000, 0xbe2a_aaab, 0xbe80_0000,
  ]
}
