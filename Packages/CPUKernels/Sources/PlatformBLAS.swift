// The platform BLAS for dense float32 GEMM: Accelerate on Apple platforms, none elsewhere (the packed
// GEMM of `_CPUKernelsNative` runs instead).
#if canImport(Accelerate)
  import Accelerate
#endif

/// The system's BLAS, where the platform has one that beats our kernels.
enum PlatformBLAS {
  /// `y[m, n] = Σ_k x[m, k] · w[n, k]` through the platform's `cblas_sgemm`.
  ///
  /// - Returns: `false` when this platform has no BLAS (nothing was written).
  static func sgemm(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, m: Int, n: Int, k: Int, into y: UnsafeMutablePointer<Float>,
    threads: Int
  ) -> Bool {
    #if canImport(Accelerate)
      cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, x, Int32(k), weight, Int32(k), 0, y,
        Int32(n))
      return true
    #else
      return false
    #endif
  }
}
