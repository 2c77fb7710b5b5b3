/// The buffer indices of every quantized-weight kernel (the plan at the top of `QuantCommon.metal`).
package enum KernelBufferIndex: Int, Sendable, CaseIterable, Comparable {
  /// Packed nibbles, 8-bit codes, int8 or fp8 bytes.
  case weights = 0
  /// absmax (float32, or uint8 codes when nested), SCB, or fp8 scales.
  case scales = 1
  /// The 16- or 256-entry float32 codebook.
  case codebook = 2
  /// Nested absmax (float32), double-quantized states only.
  case nestedAbsmax = 3
  /// The nested 256-entry codebook, double-quantized states only.
  case nestedCodebook = 4
  /// Activations `[M, K]`.
  case input = 5
  /// The result: `[M, N]` for GEMV/GEMM, the decoded weight for dequantize.
  case output = 6
  /// float32 bias `[N]`.
  case bias = 7
  /// ``QuantKernelArguments`` (set with `setBytes`).
  case arguments = 8

  /// Orders by index.
  package static func < (lhs: KernelBufferIndex, rhs: KernelBufferIndex) -> Bool { lhs.rawValue < rhs.rawValue }
}
