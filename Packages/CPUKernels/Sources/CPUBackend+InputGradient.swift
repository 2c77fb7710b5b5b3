public import QuantCore

extension CPUBackend {
  /// Rows of W decoded per tile of ``linearInputGradient(_:weight:)`` (the GEMM's shared dimension).
  static let inputGradientTileRows = 256

  /// Computes `outputGradient · weight` (`dX = dY · W`), the input gradient of ``linear(_:weight:bias:)``:
  /// W is decoded ``inputGradientTileRows`` rows at a time (never whole) into a float32 tile that is the
  /// k-major operand of the packed GEMM, and each tile's k range is accumulated into dX. Decoding is exact,
  /// so the result is the reference's up to the float32 summation order.
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
      let tileRows = min(Self.inputGradientTileRows, n)
      var tile = [Float](repeating: 0, count: tileRows * k)
      var slice = [Float](repeating: 0, count: m * tileRows)
      let threads = threadCount
      try PreparedWeight.with(weight.layout, shape: weight.shape, isa: isa, threads: threads, scratch: scratch) {
        (prepared) throws(QuantError) in
        for first in stride(from: 0, to: n, by: tileRows) {
          let t = min(tileRows, n - first)
          try tile.withUnsafeMutableBufferPointer { (buffer) throws(QuantError) in
            guard let base = buffer.baseAddress else { return }
            let target = SendablePointer(base)
            let failure = FirstError()
            ParallelChunks.run(count: t, threads: threads, alignment: 1) { rows in
              do throws(QuantError) {
                try prepared.decode(
                  (first + rows.lowerBound) * k..<(first + rows.upperBound) * k, into: target.pointer + rows.lowerBound * k)
              } catch {
                failure.record(error)
              }
            }
            try failure.rethrow()
          }
          // dY[:, first..<first + t] as a contiguous [m, t] operand.
          for row in 0..<m {
            for p in 0..<t { slice[row &* t &+ p] = dy[row &* n &+ first &+ p] }
          }
          slice.withUnsafeBufferPointer { x in
            tile.withUnsafeBytes { w in
              dx.withUnsafeMutableBufferPointer { out in
                guard let xBase = x.baseAddress, let wBase = w.baseAddress, let outBase = out.baseAddress else { return }
                productWithKMajorWeights(
                  x: xBase, m: m, weight: wBase, dtype: .float32, ldw: k, n: k, k: t, into: outBase, accumulate: true)
              }
            }
          }
        }
      }
    }
    return try Tensor(converting: dx, to: outputGradient.dtype, shape: problem.outputShape)
  }
}
