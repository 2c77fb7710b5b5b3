internal import _CPUKernelsNative

/// The SIMD instruction set a ``CPUBackend`` runs its kernels with.
///
/// The x86-64 kernels need AVX2, FMA and F16C; they live in a small C target whose functions are
/// compiled for those extensions individually and chosen at run time with `cpuid`, so the package
/// needs no unsafe compiler flags. On arm64 the NEON kernels are always available.
public enum InstructionSet: String, Sendable, CaseIterable, CustomStringConvertible {
  /// Portable C loops: the reference every SIMD path is tested against.
  case scalar
  /// x86-64 AVX2 + FMA + F16C.
  case avx2
  /// arm64 Advanced SIMD.
  case neon

  /// The fastest instruction set this machine supports.
  public static let best: InstructionSet = {
    switch ck_best_isa() {
    case Int32(CK_ISA_AVX2): .avx2
    case Int32(CK_ISA_NEON): .neon
    default: .scalar
    }
  }()

  /// Whether this machine can run kernels built for this instruction set.
  public var isSupported: Bool { self == .scalar || self == InstructionSet.best }

  /// The lowercase name (`"avx2"`).
  public var description: String { rawValue }

  var code: Int32 {
    switch self {
    case .scalar: Int32(CK_ISA_SCALAR)
    case .avx2: Int32(CK_ISA_AVX2)
    case .neon: Int32(CK_ISA_NEON)
    }
  }
}
