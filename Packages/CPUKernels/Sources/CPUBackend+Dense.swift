public import QuantCore
internal import _CPUKernelsNative

extension CPUBackend {
  /// Computes `input · weightᵀ + bias` with dense weights `[N, K]` (float32, float16 or bfloat16), as
  /// `torch.nn.functional.linear`: the kernels for a model's kept layers (lm_head, embeddings as a
  /// projection, unquantized layers).
  ///
  /// Up to 8 activation rows run a GEMV that streams the weights once (half-precision weights are widened
  /// in registers); more rows run a packed, cache-blocked GEMM (6 × 16 FMA microkernel, activations packed
  /// once per block, weight panels of 16 rows × 256 columns transposed into L1). On Apple platforms a
  /// float32 GEMM goes to Accelerate's `cblas_sgemm`. Weight rows are split across the backend's threads;
  /// every output is accumulated in float32 by one thread in an order independent of the thread count.
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Dense weights `[N, K]` in float32, float16 or bfloat16.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  public func denseLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws(QuantError) -> Tensor {
    let problem = try DenseLinearProblem(input: input, weight: weight, bias: bias)
    guard let inputKind = floatKind(input.dtype), let weightKind = floatKind(weight.dtype) else {
      throw .unsupportedDType(input.dtype, operation: "cpu dense linear", supported: [.float32, .float16, .bfloat16])
    }
    let (m, n, k) = (problem.m, problem.n, problem.k)
    let biasValues = try bias?.floats()
    let storage = try TensorStorage(byteCount: m * n * input.dtype.byteSize) { (raw) throws(QuantError) in
      guard let output = raw.baseAddress, m > 0, n > 0 else { return }
      weight.withUnsafeBytes { weightBytes in
        input.withUnsafeBytes { inputBytes in
          withFloatActivations(inputBytes.baseAddress, kind: inputKind, count: m * k) { x in
            withFloatOutput(output, kind: inputKind, count: m * n) { y in
              denseProduct(x: x, m: m, weight: weightBytes.baseAddress, kind: weightKind, n: n, k: k, into: y)
              if let biasValues { addBias(biasValues, to: y, m: m, n: n) }
            }
          }
        }
      }
    }
    return try Tensor(dtype: input.dtype, shape: problem.outputShape, storage: storage)
  }

  /// Dense float32 `y = x · wᵀ` with this backend's kernels and threads (the benchmark's baseline).
  ///
  /// - Parameters:
  ///   - x: `[m, k]` activations.
  ///   - weight: `[n, k]` weights.
  ///   - m: Activation rows.
  ///   - n: Weight rows.
  ///   - k: Shared dimension.
  ///   - y: Receives `[m, n]`.
  package func denseLinear(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, m: Int, n: Int, k: Int, into y: UnsafeMutablePointer<Float>
  ) {
    denseProduct(x: x, m: m, weight: UnsafeRawPointer(weight), kind: Int32(CK_F32), n: n, k: k, into: y)
  }

  /// `y[m, n] = Σ_k x[m, k] · w[n, k]`: ``denseLinear(_:weight:bias:)`` on raw memory, for weights of any float
  /// dtype (`[n, k]`, row-major) and float32 activations and outputs, with no copies (a training step's lm_head).
  ///
  /// - Parameters:
  ///   - x: `[m, k]` activations.
  ///   - m: Activation rows.
  ///   - weight: `[n, k]` weights of `dtype` (float32, float16 or bfloat16).
  ///   - dtype: The weights' dtype.
  ///   - n: Weight rows.
  ///   - k: Shared dimension.
  ///   - y: Receives `[m, n]`.
  ///   - packedForAnyRows: Run the packed GEMM even for a few rows (where the GEMV would run), so that every
  ///     output is the same float32 sum whatever `m` is (the GEMV sums in another order).
  package func productWithRowMajorWeights(
    x: UnsafePointer<Float>, m: Int, weight: UnsafeRawPointer, dtype: DType, n: Int, k: Int,
    into y: UnsafeMutablePointer<Float>, packedForAnyRows: Bool = false
  ) {
    guard let kind = floatKind(dtype) else { return }
    denseProduct(x: x, m: m, weight: weight, kind: kind, n: n, k: k, into: y, packedForAnyRows: packedForAnyRows)
  }

  /// `y[m, n] (+)= Σ_k x[m, k] · w[k, n]`: a product with weights stored k-major (`[k, n]`, row stride `ldw`
  /// elements, float32, float16 or bfloat16), without transposing them. Runs the packed GEMM over column
  /// ranges split across this backend's threads, a group of k blocks of the packed activations at a time (each
  /// weight row is read once for all the rows); every output is one float32 accumulator over k in order.
  ///
  /// - Parameters:
  ///   - x: `[m, k]` activations (row stride `k`).
  ///   - m: Activation rows.
  ///   - weight: The first weight element; row `p` starts `p · ldw` elements later.
  ///   - dtype: The weights' dtype.
  ///   - ldw: Elements between weight rows (at least `n`).
  ///   - n: Output columns.
  ///   - k: Shared dimension.
  ///   - y: `[m, n]` outputs (row stride `n`).
  ///   - accumulate: Add to `y` instead of overwriting it.
  package func productWithKMajorWeights(
    x: UnsafePointer<Float>, m: Int, weight: UnsafeRawPointer, dtype: DType, ldw: Int, n: Int, k: Int,
    into y: UnsafeMutablePointer<Float>, accumulate: Bool
  ) {
    guard m > 0, n > 0, let kind = floatKind(dtype) else { return }
    guard k > 0 else {
      if !accumulate { y.update(repeating: 0, count: m * n) }
      return
    }
    let isa = self.isa
    let threads = threadCount
    let out = SendablePointer(y)
    let w = SendableRawPointer(weight)
    let elementSize = dtype.byteSize
    PackedActivations.forEachGroup(x: x, m: m, k: k, threads: threads, isa: isa, scratch: scratch) { block, first in
      ParallelChunks.run(count: n, threads: threads, alignment: LinearRun.tileRows) { columns in
        for index in 0..<block.kBlocks {
          let k0 = first + block.columns(index).start
          ck_gemm_packed_kn(
            isa, block.panels(index), block.rows, w.pointer + (k0 * ldw + columns.lowerBound) * elementSize, kind, ldw,
            columns.count, block.columns(index).count, out.pointer + block.firstRow * n + columns.lowerBound, n,
            k0 > 0 || accumulate ? 1 : 0)
        }
      }
    }
  }

  /// `y[m, n] = Σ_k x[m, k] · w[n, k]` for weights of `kind` (CK_F32, CK_F16, CK_BF16).
  func denseProduct(
    x: UnsafePointer<Float>, m: Int, weight: UnsafeRawPointer?, kind: Int32, n: Int, k: Int,
    into y: UnsafeMutablePointer<Float>, packedForAnyRows: Bool = false
  ) {
    guard m > 0, n > 0 else { return }
    guard k > 0, let weight else {
      y.update(repeating: 0, count: m * n)
      return
    }
    let isa = self.isa
    let threads = threadCount
    let xs = SendableConstPointer(x)
    let out = SendablePointer(y)
    let w = SendableRawPointer(weight)
    if m <= LinearRun.gemvMaxRows && !packedForAnyRows {
      ParallelChunks.run(count: n, threads: threads, alignment: 4) { rows in
        if kind == Int32(CK_F32) {
          ck_f32_gemv(
            isa, w.pointer.assumingMemoryBound(to: Float.self), k, k, rows.lowerBound, rows.upperBound, xs.pointer, k,
            m, out.pointer, n)
        } else {
          ck_half_gemv(
            isa, w.pointer.assumingMemoryBound(to: UInt16.self), kind, k, k, rows.lowerBound, rows.upperBound,
            xs.pointer, k, m, out.pointer, n)
        }
      }
      return
    }
    if kind == Int32(CK_F32), !packedForAnyRows,
      PlatformBLAS.sgemm(
        x: x, weight: weight.assumingMemoryBound(to: Float.self), m: m, n: n, k: k, into: y, threads: threads)
    {
      return
    }
    let elementSize = kind == Int32(CK_F32) ? 4 : 2
    PackedActivations.forEachBlock(x: x, m: m, k: k, threads: threads, isa: isa, scratch: scratch) { block in
      ParallelChunks.run(count: n, threads: threads, alignment: LinearRun.tileRows) { rows in
        func multiply(_ first: Int, _ count: Int, _ index: Int) {
          let (k0, kc) = block.columns(index)
          ck_gemm_packed(
            isa, block.panels(index), block.rows, w.pointer + (first * k + k0) * elementSize, kind, k, count, kc,
            out.pointer + block.firstRow * n + first, n, index > 0 ? 1 : 0)
        }
        if block.fitsInL2 {
          // The packed activations stay in L2: a tile of weight rows runs every k block while its outputs stay
          // in L1, instead of re-reading and re-writing all the outputs once per k block (an lm_head's
          // `[rows, vocab]` outputs are tens of megabytes). Each output still sums its k blocks in order.
          for first in stride(from: rows.lowerBound, to: rows.upperBound, by: LinearRun.tileRows) {
            let count = min(LinearRun.tileRows, rows.upperBound - first)
            for index in 0..<block.kBlocks { multiply(first, count, index) }
          }
        } else {
          for index in 0..<block.kBlocks { multiply(rows.lowerBound, rows.count, index) }
        }
      }
    }
  }

  /// Calls `body` with the activations as float32: the input itself, or a converted scratch copy.
  func withFloatActivations<R>(
    _ input: UnsafeRawPointer?, kind: Int32, count: Int, _ body: (UnsafePointer<Float>) -> R
  ) -> R {
    if kind == Int32(CK_F32), let input { return body(input.assumingMemoryBound(to: Float.self)) }
    return scratch.withBuffer(of: Float.self, count: count) { x in
      ck_load_floats(isa, input, kind, x, count)
      return body(UnsafePointer(x))
    }
  }

  /// Calls `body` with float32 output memory: `output` itself, or scratch narrowed into it afterwards.
  func withFloatOutput(
    _ output: UnsafeMutableRawPointer, kind: Int32, count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void
  ) {
    if kind == Int32(CK_F32) { return body(output.assumingMemoryBound(to: Float.self)) }
    scratch.withBuffer(of: Float.self, count: count) { y in
      body(y)
      ck_store_floats(isa, y, kind, output, count)
    }
  }
}

/// Adds `bias[column]` to every row of `y` (`m × n`).
func addBias(_ bias: [Float], to y: UnsafeMutablePointer<Float>, m: Int, n: Int) {
  bias.withUnsafeBufferPointer { b in
    guard let values = b.baseAddress else { return }
    for row in 0..<m {
      let target = y + row * n
      for column in 0..<n { target[column] += values[column] }
    }
  }
}

/// A read-only raw pointer handed to parallel workers.
struct SendableRawPointer: @unchecked Sendable {
  let pointer: UnsafeRawPointer
  init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}
