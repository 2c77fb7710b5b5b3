public import QuantCore
internal import _CPUKernelsNative

extension CPUBackend {
  /// Computes `outputGradient · weight` (`dX = dY · W`), the input gradient of ``linear(_:weight:bias:)``.
  ///
  /// dY is packed once, in k blocks of the packed GEMM (256 rows of W each). Each thread owns a range of dX's
  /// columns and, for every k block in order, decodes that block's rows of W over its columns into a small
  /// float32 tile (never the whole W) and accumulates the tile's k-major product into its columns: one
  /// fork-join per call, and no thread waits on another's decoding (a custom layout, which decodes whole rows,
  /// runs on one thread). Decoding is exact and each output sums the
  /// k blocks in order, so the result does not depend on the thread count and is the reference's up to the
  /// float32 summation order.
  ///
  /// - Parameters:
  ///   - outputGradient: `[..., N]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`, any layout (custom layouts decode through their rows).
  /// - Returns: `[..., K]` in the gradient's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches or inconsistent weight data.
  public func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Tensor {
    let problem = try InputGradientProblem(outputGradient: outputGradient, weight: weight)
    let (m, n, k) = (problem.m, problem.n, problem.k)
    var dx = [Float](repeating: 0, count: m * k)
    if m > 0, n > 0, k > 0 {
      let dy = try outputGradient.floats()
      let (isa, scratch, threads) = (self.isa, self.scratch, threadCount)
      try PreparedWeight.with(weight.layout, shape: weight.shape, isa: isa, threads: threads, scratch: scratch) {
        (prepared) throws(QuantError) in
        let failure = FirstError()
        try dy.withUnsafeBufferPointer { (gradient) throws(QuantError) in
          guard let dyBase = gradient.baseAddress else { return }
          try dx.withUnsafeMutableBufferPointer { (result) throws(QuantError) in
            guard let dxBase = result.baseAddress else { return }
            let out = SendablePointer(dxBase)
            // dY `[m, n]` is the activation operand with n (W's rows) as its shared dimension.
            PackedActivations.forEachBlock(x: dyBase, m: m, k: n, threads: threads, isa: isa, scratch: scratch) {
              block in
              // A custom layout decodes whole rows, so it keeps every column in one chunk (one thread).
              let alignment = prepared.isCustom ? k : LinearRun.tileRows
              ParallelChunks.run(count: k, threads: threads, alignment: alignment) { columns in
                let width = columns.count
                scratch.withBuffer(of: Float.self, count: PackedActivations.blockColumns * width) { tile in
                  do throws(QuantError) {
                    for index in 0..<block.kBlocks {
                      let (first, count) = block.columns(index)
                      try prepared.decodeTile(
                        rows: first..<(first + count), columns: columns, permuted: false, into: tile, ld: width)
                      ck_gemm_packed_kn(
                        isa, block.panels(index), block.rows, tile, Int32(CK_F32), width, width, count,
                        out.pointer + block.firstRow * k + columns.lowerBound, k, index > 0 ? 1 : 0)
                    }
                  } catch {
                    failure.record(error)
                  }
                }
              }
            }
          }
        }
        try failure.rethrow()
      }
    }
    return try Tensor(converting: dx, to: outputGradient.dtype, shape: problem.outputShape)
  }
}
