public import QuantCore
internal import _CPUKernelsNative

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The `cpu` backend: fused dequantize + GEMV/GEMM kernels for every storage layout, multi-threaded.
///
/// - Dequantize decodes in parallel straight into the output (bit-identical to the reference decode).
/// - `linear` with up to 8 activation rows runs a fused GEMV: weights are decoded in registers and never
///   written to memory; weight rows are split across threads.
/// - Larger batches run a GEMM: activations are packed once into panels, each thread decodes tiles of 32
///   weight rows × 256 columns into a cache-resident buffer and multiplies them with a register-blocked
///   FMA microkernel (AVX-512 where available). The full weight is never materialised.
/// - Dense float32/float16/bfloat16 weights run through ``denseLinear(_:weight:bias:)``; a quantized
///   weight used many times can be prepared once with ``prepare(_:)``.
/// - Threads come from a persistent pool shared by every backend (workers spin briefly, then sleep
///   between calls), so short per-token calls do not pay for thread dispatch.
///
/// **Numerics.** ``Mode/exact`` (the default) decodes weights exactly (`code[q] · absmax` etc.) and
/// accumulates in float32, like bitsandbytes' dequantize + matmul; only the summation order differs
/// (SIMD partial sums; 4-bit GEMV applies each block's absmax once per 32 products). ``Mode/fast``
/// quantizes activations to int8 per group of 32 and runs integer dot products for 4-bit weights (see
/// `Docs/performance.md` for its measured error); other layouts ignore it.
///
/// **Allocation per call.** Only the output tensor (and small Swift arrays for the bias and codebook
/// views). Scratch memory (the activations converted to float32 and permuted, or quantized to int8 in
/// fast mode; an `M × N` float32 result for float16/bfloat16 outputs; decoded nested absmax; one GEMM
/// tile per thread) comes from a pool owned by the backend and is reused across calls, so the hot path
/// neither allocates nor page-faults fresh memory once warm.
///
/// Results do not depend on the thread count: each output element is computed by one thread, in the
/// same order whatever the split.
public struct CPUBackend: KernelBackend {
  /// How activations meet quantized weights.
  public enum Mode: String, Sendable, CaseIterable {
    /// float32 activations and accumulation; weights decoded exactly.
    case exact
    /// int8 activations (per 32 values) × int8-rounded 4-bit codebook, integer dot products.
    case fast
  }

  /// Worker threads; 0 means one per active processor.
  public var threads: Int
  /// The numeric mode of `linear`.
  public var mode: Mode
  /// The SIMD instruction set (defaults to the best the machine supports).
  public var instructionSet: InstructionSet
  /// Scratch memory reused across calls (shared by copies of this backend).
  let scratch = ScratchPool()

  /// Creates a CPU backend.
  ///
  /// - Parameters:
  ///   - threads: Worker threads; 0 (the default) uses every active processor.
  ///   - mode: ``Mode/exact`` (default) or ``Mode/fast``.
  ///   - instructionSet: The kernels to use; an unsupported choice falls back to ``InstructionSet/scalar``.
  public init(threads: Int = 0, mode: Mode = .exact, instructionSet: InstructionSet = .best) {
    self.threads = max(threads, 0)
    self.mode = mode
    self.instructionSet = instructionSet.isSupported ? instructionSet : .scalar
  }

  /// `"cpu"`.
  public var name: String { "cpu" }
  /// Always available.
  public var isAvailable: Bool { true }

  /// Every built-in layout has dedicated kernels; custom layouts run through decoded tiles.
  ///
  /// - Parameter layout: A storage layout.
  /// - Returns: `false` only for ``StorageLayout/custom(_:)``.
  public func accelerates(_ layout: StorageLayout) -> Bool {
    if case .custom = layout { false } else { true }
  }

  /// The number of threads a call uses.
  var threadCount: Int {
    if threads > 0 { return threads }
    return max(1, activeProcessorCount())
  }

  var isa: Int32 { instructionSet.code }
}

/// Processors available to this process: its affinity mask on Linux (`taskset`, cpusets), else the online
/// processors. Thread pools sized by this do not oversubscribe a pinned process.
package func activeProcessorCount() -> Int { Int(ck_available_processors()) }

/// The kernel code of a float activation dtype.
func floatKind(_ dtype: DType) -> Int32? {
  switch dtype {
  case .float32: Int32(CK_F32)
  case .float16: Int32(CK_F16)
  case .bfloat16: Int32(CK_BF16)
  default: nil
  }
}
