public import QuantCore
internal import _CPUKernelsNative

extension CPUBackend {
  /// Computes `input · weightᵀ + bias` with quantized weights `[N, K]`, as `torch.nn.functional.linear`.
  ///
  /// Up to 8 activation rows run the fused GEMV; more run the tiled GEMM (see ``CPUBackend``).
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights with logical shape `[N, K]`.
  ///   - bias: Optional `[N]`, any float dtype.
  /// - Returns: `[..., N]` in the input's dtype, accumulated in float32.
  /// - Throws: `QuantError` on shape or dtype mismatches or inconsistent weights.
  public func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    try linear(input, weight: weight, decodedScales: nil, bias: bias)
  }

  /// `linear` with block scales already decoded (a ``PreparedLinearWeight``'s), or `nil` to decode them.
  func linear(_ input: Tensor, weight: QuantizedTensor, decodedScales: [Float]?, bias: Tensor?) throws(QuantError)
    -> Tensor
  {
    let problem = try LinearProblem(input: input, weight: weight, bias: bias)
    guard let inputKind = floatKind(input.dtype) else {
      throw .unsupportedDType(input.dtype, operation: "cpu linear", supported: [.float32, .float16, .bfloat16])
    }
    let (m, n, k) = (problem.m, problem.n, problem.k)
    if m == 0 || n == 0 || k == 0 { return try ReferenceBackend().linear(input, weight: weight, bias: bias) }
    let biasValues = try bias?.floats()
    let isa = self.isa
    let threads = threadCount
    let mode = self.mode
    let storage = try TensorStorage(byteCount: m * n * input.dtype.byteSize) { (raw) throws(QuantError) in
      try PreparedWeight.with(
        weight.layout, shape: weight.shape, isa: isa, threads: threads, scratch: scratch, decodedScales: decodedScales
      ) {
        (prepared) throws(QuantError) in
        try input.withUnsafeBytes { (inputBytes) throws(QuantError) in
          let run = LinearRun(
            weight: prepared, m: m, n: n, k: k, threads: threads, isa: isa, mode: mode,
            input: inputBytes.baseAddress, inputKind: inputKind, scratch: scratch)
          if inputKind == Int32(CK_F32) {
            guard let output = raw.baseAddress else { return }
            try run.compute(into: output.assumingMemoryBound(to: Float.self), bias: biasValues)
          } else {
            try scratch.withBuffer(of: Float.self, count: m * n) { (y) throws(QuantError) in
              try run.compute(into: y, bias: biasValues)
              ck_store_floats(isa, y, inputKind, raw.baseAddress, m * n)
            }
          }
        }
      }
    }
    return try Tensor(dtype: input.dtype, shape: problem.outputShape, storage: storage)
  }
}

/// One `linear` call: activations prepared once, then GEMV or GEMM over thread chunks of weight rows.
struct LinearRun: @unchecked Sendable {
  let weight: PreparedWeight
  let m: Int
  let n: Int
  let k: Int
  let threads: Int
  let isa: Int32
  let mode: CPUBackend.Mode
  let input: UnsafeRawPointer?
  let inputKind: Int32
  let scratch: ScratchPool

  /// The largest batch that runs the fused GEMV.
  static let gemvMaxRows = 8
  /// Weight rows per decoded GEMM tile.
  static let tileRows = 32

  func compute(into y: UnsafeMutablePointer<Float>, bias: [Float]?) throws(QuantError) {
    if mode == .fast, m <= LinearRun.gemvMaxRows,
      case .codebook4(let packed, let code, let scales, let blocksize) =
        weight.kind, k % 32 == 0, blocksize % 32 == 0
    {
      computeFast(packed: packed, code: code, scales: scales, blocksize: blocksize, into: y)
    } else {
      try computeExact(into: y)
    }
    if let bias {
      for row in 0..<m {
        for column in 0..<n { y[row * n + column] += bias[column] }
      }
    }
  }

  /// Activations as float32, permuted when the weight's kernels want it.
  private func withActivations<R>(_ body: (UnsafePointer<Float>) throws(QuantError) -> R) throws(QuantError) -> R {
    try scratch.withBuffer(of: Float.self, count: m * k + k) { (x) throws(QuantError) in
      if weight.wantsPermutedActivations {
        // The GEMV may want the AVX-512 order (ck_cb4_gemv_order); decoded GEMM tiles use ck_permute8's.
        var interleaved = false
        if m <= LinearRun.gemvMaxRows, case .codebook4(_, _, _, let blocksize) = weight.kind {
          interleaved = ck_cb4_gemv_order(isa, k, blocksize) == 16
        }
        let row = x + m * k
        for r in 0..<m {
          ck_load_floats(isa, input.map { $0 + r * k * elementSize }, inputKind, row, k)
          if interleaved { ck_permute16i(row, x + r * k, k) } else { ck_permute8(row, x + r * k, k) }
        }
      } else {
        ck_load_floats(isa, input, inputKind, x, m * k)
      }
      return try body(x)
    }
  }

  private var elementSize: Int { inputKind == Int32(CK_F32) ? 4 : 2 }

  private func computeExact(into y: UnsafeMutablePointer<Float>) throws(QuantError) {
    try withActivations { (x) throws(QuantError) in
      let out = SendablePointer(y)
      let xs = SendableConstPointer(x)
      if m <= LinearRun.gemvMaxRows && !weight.isCustom {
        ParallelChunks.run(count: n, threads: threads, alignment: 4) { rows in
          weight.gemv(rows: rows, x: xs.pointer, ldx: k, m: m, y: out.pointer, ldy: n)
        }
      } else {
        try gemm(x: xs, y: out)
      }
    }
  }

  private func gemm(x: SendableConstPointer<Float>, y: SendablePointer<Float>) throws(QuantError) {
    let weight = self.weight
    let isa = self.isa
    let scratch = self.scratch
    let (n, k) = (self.n, self.k)
    let tileRows = LinearRun.tileRows
    let failure = FirstError()
    PackedActivations.forEachBlock(x: x.pointer, m: m, k: k, threads: threads, isa: isa, scratch: scratch) { block in
      let out = SendablePointer(y.pointer + block.firstRow * n)
      if weight.isCustom {
        // Custom layouts decode whole rows: 16 full rows per tile, then every k block of the activations.
        ParallelChunks.run(count: n, threads: threads, alignment: tileRows) { rows in
          scratch.withBuffer(of: Float.self, count: tileRows * k) { tile in
            do throws(QuantError) {
              for n0 in stride(from: rows.lowerBound, to: rows.upperBound, by: tileRows) {
                let nrows = min(tileRows, rows.upperBound - n0)
                try weight.decodeTile(rows: n0..<(n0 + nrows), columns: 0..<k, permuted: false, into: tile, ld: k)
                for index in 0..<block.kBlocks {
                  let (k0, kc) = block.columns(index)
                  ck_gemm_packed(
                    isa, block.panels(index), block.rows, tile + k0, Int32(CK_F32), k, nrows, kc,
                    out.pointer + n0, n, index > 0 ? 1 : 0)
                }
              }
            } catch {
              failure.record(error)
            }
          }
        }
        return
      }
      let permuted = weight.wantsPermutedActivations
      ParallelChunks.run(count: n, threads: threads, alignment: tileRows) { rows in
        scratch.withBuffer(of: Float.self, count: tileRows * PackedActivations.blockColumns) { tile in
          do throws(QuantError) {
            // One tile: weight rows n0..<n0+nrows × k block `index`, multiplied into every activation panel.
            func multiply(_ n0: Int, _ index: Int) throws(QuantError) {
              let nrows = min(tileRows, rows.upperBound - n0)
              let (k0, kc) = block.columns(index)
              try weight.decodeTile(
                rows: n0..<(n0 + nrows), columns: k0..<(k0 + kc), permuted: permuted, into: tile, ld: kc)
              ck_gemm_packed(
                isa, block.panels(index), block.rows, tile, Int32(CK_F32), kc, nrows, kc, out.pointer + n0, n,
                index > 0 ? 1 : 0)
            }
            let tiles = stride(from: rows.lowerBound, to: rows.upperBound, by: tileRows)
            if block.fitsInL2 {
              // Few activation rows: all packed activations stay in L2, so walk each weight row along K
              // (sequential reads the hardware prefetcher follows) instead of K block by K block.
              for n0 in tiles { for index in 0..<block.kBlocks { try multiply(n0, index) } }
            } else {
              for index in 0..<block.kBlocks { for n0 in tiles { try multiply(n0, index) } }
            }
          } catch {
            failure.record(error)
          }
        }
      }
    }
    try failure.rethrow()
  }

  private func computeFast(
    packed: UnsafePointer<UInt8>?, code: UnsafePointer<Float>?, scales: UnsafePointer<Float>?, blocksize: Int,
    into y: UnsafeMutablePointer<Float>
  ) {
    let table = FastCodebook(code: UnsafeBufferPointer(start: code, count: code == nil ? 0 : 16))
    let steps = k / 32
    scratch.withBuffer(byteCount: m * k + (m * steps + k) * 4) { raw in
      let quantized = raw.bindMemory(to: Int8.self, capacity: m * k)
      let floats = (raw + m * k).bindMemory(to: Float.self, capacity: m * steps + k)
      let groupScales = floats
      let row = floats + m * steps
      for r in 0..<m {
        ck_load_floats(isa, input.map { $0 + r * k * elementSize }, inputKind, row, k)
        ck_quantize_q8(isa, row, k, quantized + r * k, groupScales + r * steps)
      }
      runFast(
        packed: packed, code: table, scales: scales, blocksize: blocksize, q: UnsafePointer(quantized),
        qs: UnsafePointer(groupScales), into: y)
    }
  }

  private func runFast(
    packed: UnsafePointer<UInt8>?, code table: FastCodebook, scales: UnsafePointer<Float>?, blocksize: Int,
    q quantized: UnsafePointer<Int8>, qs groupScales: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>
  ) {
    let out = SendablePointer(y)
    let q = SendableConstPointer(quantized)
    let qs = SendableConstPointer(groupScales)
    let weights = SendableOptionalPointer(packed)
    let blockScales = SendableOptionalPointer(scales)
    table.codes.withUnsafeBufferPointer { codes in
      let codes8 = SendableOptionalPointer(codes.baseAddress)
      ParallelChunks.run(count: n, threads: threads, alignment: 4) { rows in
        ck_cb4_gemv_q8(
          isa, weights.pointer, codes8.pointer, table.scale, blockScales.pointer, blocksize, k, rows.lowerBound,
          rows.upperBound, q.pointer, qs.pointer, m, out.pointer, n)
      }
    }
  }
}

/// A 16-entry codebook rounded to int8 for fast mode: `code[i] ≈ codes[i] · scale`.
struct FastCodebook {
  let codes: [Int8]
  let scale: Float

  init(code: UnsafeBufferPointer<Float>) {
    let maxMagnitude = code.reduce(Float(0)) { max($0, abs($1)) }
    let scale = maxMagnitude > 0 ? maxMagnitude / 127 : 1
    self.scale = scale
    self.codes = code.map { Int8(clamping: Int(($0 / scale).rounded(.toNearestOrEven))) }
  }
}

/// A read-only pointer that may be absent (an empty buffer), handed to parallel workers.
struct SendableOptionalPointer<Element>: @unchecked Sendable {
  let pointer: UnsafePointer<Element>?
  init(_ pointer: UnsafePointer<Element>?) { self.pointer = pointer }
}

/// A read-only pointer handed to parallel workers.
struct SendableConstPointer<Element>: @unchecked Sendable {
  let pointer: UnsafePointer<Element>
  init(_ pointer: UnsafePointer<Element>) { self.pointer = pointer }
}
