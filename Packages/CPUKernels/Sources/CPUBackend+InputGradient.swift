public import QuantCore
internal import _CPUKernelsNative

extension CPUBackend {
  /// Computes `outputGradient · weight` (`dX = dY · W`), the input gradient of ``linear(_:weight:bias:)``.
  ///
  /// dY is packed a group of k blocks of the packed GEMM (256 rows of W each) at a time. Each thread owns a range of dX's
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
    var dx = [Float](repeating: 0, count: problem.m * problem.k)
    if problem.m > 0 {
      let dy = try outputGradient.floats()
      try dy.withUnsafeBufferPointer { (gradient) throws(QuantError) in
        try dx.withUnsafeMutableBufferPointer { (result) throws(QuantError) in
          guard let dyBase = gradient.baseAddress, let dxBase = result.baseAddress else { return }
          try linearInputGradient(dyBase, rows: problem.m, weight: weight, into: dxBase)
        }
      }
    }
    return try Tensor(converting: dx, to: outputGradient.dtype, shape: problem.outputShape)
  }

  /// ``linearInputGradient(_:weight:)`` on raw float32 memory, with no copies of either operand (a training
  /// step's frozen layers).
  ///
  /// - Parameters:
  ///   - dy: `[rows, N]` output gradients.
  ///   - rows: Gradient rows.
  ///   - weight: Quantized weights `[N, K]`.
  ///   - dx: Receives `[rows, K]` (overwritten).
  /// - Throws: `QuantError` for a weight that is not 2-D or has inconsistent data.
  package func linearInputGradient(
    _ dy: UnsafePointer<Float>, rows m: Int, weight: QuantizedTensor, into dx: UnsafeMutablePointer<Float>
  ) throws(QuantError) {
    guard weight.shape.count == 2 else {
      throw .invalidShape(weight.shape, reason: "an input gradient needs a 2-D weight [out_features, in_features]")
    }
    let (n, k) = (weight.shape[0], weight.shape[1])
    guard m > 0, k > 0 else { return }
    guard n > 0 else {
      dx.update(repeating: 0, count: m * k)
      return
    }
    let (isa, scratch, threads) = (self.isa, self.scratch, threadCount)
    let out = SendablePointer(dx)
    try PreparedWeight.with(weight.layout, shape: weight.shape, isa: isa, threads: threads, scratch: scratch) {
      (prepared) throws(QuantError) in
      let failure = FirstError()
      // dY `[m, n]` is the activation operand with n (W's rows) as its shared dimension.
      PackedActivations.forEachGroup(x: dy, m: m, k: n, threads: threads, isa: isa, scratch: scratch) { block, start in
        // A custom layout decodes whole rows, so it keeps every column in one chunk (one thread).
        let alignment = prepared.isCustom ? k : LinearRun.tileRows
        ParallelChunks.run(count: k, threads: threads, alignment: alignment) { columns in
          let width = columns.count
          scratch.withBuffer(of: Float.self, count: PackedActivations.blockColumns * width) { tile in
            do throws(QuantError) {
              for index in 0..<block.kBlocks {
                let (offset, count) = block.columns(index)
                let first = start + offset
                try prepared.decodeTile(
                  rows: first..<(first + count), columns: columns, permuted: false, into: tile, ld: width)
                ck_gemm_packed_kn(
                  isa, block.panels(index), block.rows, tile, Int32(CK_F32), width, width, count,
                  out.pointer + block.firstRow * k + columns.lowerBound, k, first > 0 ? 1 : 0)
              }
            } catch {
              failure.record(error)
            }
          }
        }
      }
      try failure.rethrow()
    }
  }
}
