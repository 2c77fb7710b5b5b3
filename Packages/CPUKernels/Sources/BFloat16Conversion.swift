import _CPUKernelsNative

/// float32 ↔ bfloat16 over buffers with this machine's SIMD kernels: the bits of
/// `HalfPrecision.bfloat16Bits` (nearest even, NaN kept quiet) and of the exact widening.
package enum BFloat16Conversion {
  /// Rounds `count` floats to bfloat16 bit patterns.
  package static func narrow(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<UInt16>, count: Int) {
    ck_store_floats(InstructionSet.best.code, source, Int32(CK_BF16), target, count)
  }

  /// Widens `count` bfloat16 bit patterns to floats (exact).
  package static func widen(_ source: UnsafePointer<UInt16>, into target: UnsafeMutablePointer<Float>, count: Int) {
    ck_load_floats(InstructionSet.best.code, source, Int32(CK_BF16), target, count)
  }
}
