import QuantCore
import _CPUKernelsNative

/// Widens float16 or bfloat16 to float32, exactly.
enum HalfWidening {
  private static let isa = ck_best_isa()

  /// Widens `source` (little-endian half-precision elements) into `destination` (one float per element).
  ///
  /// The fast path is the CPU kernels' converter (F16C on x86-64), exact for every finite value and
  /// infinity; `exact` selects a loop that also keeps every NaN's payload bit for bit (F16C quiets
  /// signalling NaNs), as the formats' own conversion does, for chunks that hold NaN.
  ///
  /// - Parameters:
  ///   - source: The elements.
  ///   - bfloat16: Whether they are bfloat16 (else float16).
  ///   - exact: Whether NaN payloads must be kept.
  ///   - destination: One float per element.
  static func widen(
    _ source: UnsafeRawBufferPointer, bfloat16: Bool, exact: Bool, into destination: UnsafeMutableBufferPointer<Float>
  ) {
    let count = destination.count
    guard let base = source.baseAddress, let target = destination.baseAddress, count > 0 else { return }
    if exact {
      ElementConversion.load(source, as: bfloat16 ? .bfloat16 : .float16, into: destination)
    } else {
      ck_load_floats(isa, base, Int32(bfloat16 ? CK_BF16 : CK_F16), target, count)
    }
  }
}
