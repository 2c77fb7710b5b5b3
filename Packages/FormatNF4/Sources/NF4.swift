public import DoubleQuant

/// NF4 ("normal float 4"): 16 values at the quantiles of a normal distribution, normalised to [-1, 1].
///
/// The codebook is bitsandbytes' `get_4bit_type("nf4")`, shipped as float32 bit patterns. It is sorted,
/// asymmetric (7 negative values, zero, 8 positive values) and identical in bitsandbytes' Python, CUDA
/// and C++ tables.
public enum NF4 {
  /// The format and quant-type name, `"nf4"`.
  public static let name = "nf4"

  /// The codebook, index → value.
  public static let codebook: [Float] = codebookBits.map(Float.init(bitPattern:))

  /// Whether NF4 can run here: always, the reference implementation needs nothing native.
  public static let isAvailable = true

  /// The shared 4-bit machinery configured with the NF4 codebook.
  public static let codec: Blockwise4BitCodec = {
    do {
      return try Blockwise4BitCodec(quantType: name, code: codebook)
    } catch {
      preconditionFailure("the built-in NF4 codebook is 16 finite values: \(error)")
    }
  }()

  static let codebookBits: [UInt32] = [
    0xbf80_0000, 0xbf32_39b1, 0xbf06_6b30, 0xbeca_32a0,
    0xbe91_a24d, 0xbe3d_353f, 0xbdba_7871, 0x0000_0000,
    0x3da2_faff, 0x3e24_cae3, 0x3e7c_04dd, 0x3ead_033a,
    0x3ee1_a4b8, 0x3f10_07ab, 0x3f39_13b3, 0x3f80_0000,
  ]
}
