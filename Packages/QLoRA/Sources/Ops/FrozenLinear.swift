import CPUKernels
public import QuantCore

/// A frozen linear layer `y = x·Wᵀ + b` (quantized or dense weights) with the input gradient
/// `dX = dY·W`, the only backward a frozen base layer needs (bitsandbytes' `MatMul4Bit.backward`).
///
/// Both directions decode `tileRows` rows of W at a time into one scratch tile, so a quantized weight is
/// never materialised whole.
public struct FrozenLinear: Sendable {
  /// The stored weight.
  public enum Weight: Sendable {
    /// Dense float32 `[outFeatures, inFeatures]`.
    case dense([Float])
    /// A dense float tensor (float32, float16 or bfloat16) `[outFeatures, inFeatures]`, widened a tile at a time
    /// (the runtime's kept layers: no float32 copy of an lm_head).
    case tensor(Tensor)
    /// Any quantized layout with logical shape `[outFeatures, inFeatures]`.
    case quantized(QuantizedTensor)
  }

  /// The weight's name, for errors (`model.layers.0.self_attn.q_proj`).
  public let name: String
  /// Input features (columns of W).
  public let inFeatures: Int
  /// Output features (rows of W).
  public let outFeatures: Int
  /// The optional bias `[outFeatures]`.
  public let bias: [Float]?
  /// Rows of W decoded per tile.
  public var tileRows: Int
  private let dense: [Float]?
  private let denseTensor: Tensor?
  private let decoder: QuantizedRowDecoder?
  private let quantized: QuantizedTensor?
  /// Runs the input gradient on this backend: a quantized W through its `linearInputGradient` (the CPU and
  /// Metal backends decode W a tile at a time inside it), a dense W through the CPU's k-major product or, on
  /// other backends, as GEMMs over transposed tiles; `nil` uses the scalar tile loop.
  package var backend: (any KernelBackend)?
  /// Rows of W per GEMM of the transposed-tile input gradient (backends without their own kernel).
  package var gradientTileRows = 256
  /// Threads for the decoding, transposing and accumulating around the input gradient's GEMMs.
  package var threads = 1
  /// A faster forward (the runtime's kernels): `(x, rows) → x·Wᵀ + b`; `nil` uses the tile loop.
  package var acceleratedForward: (@Sendable ([Float], Int) throws(QLoRAError) -> [Float])?

  /// Creates a frozen layer.
  ///
  /// - Parameters:
  ///   - name: The module name, for errors.
  ///   - weight: The weight.
  ///   - inFeatures: Columns of W (checked against a quantized weight's shape).
  ///   - outFeatures: Rows of W.
  ///   - bias: Optional `[outFeatures]`.
  ///   - tileRows: Rows decoded per tile (64 by default).
  /// - Throws: `QLoRAError` when the weight or bias disagree with the stated shape.
  public init(
    name: String, weight: Weight, inFeatures: Int, outFeatures: Int, bias: [Float]? = nil, tileRows: Int = 64
  ) throws(QLoRAError) {
    self.name = name
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.tileRows = max(1, tileRows)
    if let bias { try bias.require(outFeatures, "\(name).bias") }
    self.bias = bias
    switch weight {
    case .dense(let values):
      try values.require(inFeatures * outFeatures, "\(name).weight")
      dense = values
      denseTensor = nil
      decoder = nil
      quantized = nil
    case .tensor(let tensor):
      guard [.float32, .float16, .bfloat16].contains(tensor.dtype), tensor.shape == [outFeatures, inFeatures] else {
        throw .quantized(
          name: name, reason: "\(tensor.dtype) \(tensor.shape), expected a float [\(outFeatures), \(inFeatures)]")
      }
      denseTensor = tensor
      dense = nil
      decoder = nil
      quantized = nil
    case .quantized(let tensor):
      let decoder = try QuantizedRowDecoder(tensor, name: name)
      guard decoder.rows == outFeatures, decoder.columns == inFeatures else {
        throw .quantized(name: name, reason: "shape \(tensor.shape), expected [\(outFeatures), \(inFeatures)]")
      }
      self.decoder = decoder
      quantized = tensor
      dense = nil
      denseTensor = nil
    }
  }

  /// Calls `body(rowRange, tile)` for each tile of W's rows, decoded to float32.
  package func forEachTile(_ body: (Range<Int>, UnsafeBufferPointer<Float>) -> Void) throws(QLoRAError) {
    try forEachTile(rows: tileRows, body)
  }

  /// Calls `body(rowRange, tile)` for each tile of `rows` rows of W, decoded to float32 by up to `threads`
  /// threads.
  func forEachTile(
    rows tileRows: Int, threads: Int = 1, _ body: (Range<Int>, UnsafeBufferPointer<Float>) -> Void
  ) throws(QLoRAError) {
    if let dense {
      dense.withUnsafeBufferPointer { all in
        var start = 0
        while start < outFeatures {
          let end = min(start + tileRows, outFeatures)
          body(start..<end, UnsafeBufferPointer(rebasing: all[(start * inFeatures)..<(end * inFeatures)]))
          start = end
        }
      }
      return
    }
    var tile = [Float](repeating: 0, count: min(tileRows, outFeatures) * inFeatures)
    var start = 0
    while start < outFeatures {
      let end = min(start + tileRows, outFeatures)
      let count = (end - start) * inFeatures
      let columns = inFeatures
      let failure = Locked<QLoRAError?>(nil)
      tile.withUnsafeMutableBufferPointer { buffer in
        ParallelRanges.run(count: end - start, threads: threads, minimum: 8) { part in
          let rows = (start + part.lowerBound)..<(start + part.upperBound)
          let target = UnsafeMutableBufferPointer(rebasing: buffer[(part.lowerBound * columns)..<(part.upperBound * columns)])
          if let denseTensor {
            let size = denseTensor.dtype.byteSize
            denseTensor.withUnsafeBytes { raw in
              ElementConversion.load(
                UnsafeRawBufferPointer(rebasing: raw[(rows.lowerBound * columns * size)..<(rows.upperBound * columns * size)]),
                as: denseTensor.dtype, into: target)
            }
          } else if let decoder {
            do throws(QLoRAError) {
              try decoder.decodeRows(rows, into: target, name: name)
            } catch {
              failure.withLock { $0 = $0 ?? error }
            }
          }
        }
      }
      if let error = failure.withLock({ $0 }) { throw error }
      tile.withUnsafeBufferPointer { buffer in body(start..<end, UnsafeBufferPointer(rebasing: buffer[0..<count])) }
      start = end
    }
  }

  /// `y = x·Wᵀ + b` for `x` `[rows, inFeatures]`.
  ///
  /// - Parameter x: The input rows.
  /// - Returns: `[rows, outFeatures]`.
  /// - Throws: `QLoRAError` on a size mismatch or an undecodable weight.
  public func forward(_ x: [Float]) throws(QLoRAError) -> [Float] {
    guard x.count % inFeatures == 0 else {
      throw .shapeMismatch(context: "\(name) input", expected: inFeatures, found: x.count)
    }
    let rows = x.count / inFeatures
    if let cpu = backend as? CPUBackend, rows > 0, let y = denseForward(x, rows: rows, cpu: cpu) { return y }
    if let acceleratedForward { return try acceleratedForward(x, rows) }
    var y = [Float](repeating: 0, count: rows * outFeatures)
    let k = inFeatures
    let n = outFeatures
    try x.withUnsafeBufferPointer { (input) throws(QLoRAError) in
      try y.withUnsafeMutableBufferPointer { (output) throws(QLoRAError) in
        try forEachTile { range, tile in
          Matrix.multiplyTransposed(
            input, tile, into: output, m: rows, n: range.count, k: k, cStride: n, cOffset: range.lowerBound)
        }
      }
    }
    if let bias {
      for r in 0..<rows { for j in 0..<n { y[r * n + j] += bias[j] } }
    }
    return y
  }

  /// The input gradient `dX = dY·W` for `dY` `[rows, outFeatures]`.
  ///
  /// - Parameter outputGradient: `dL/dy`.
  /// - Returns: `dL/dx` `[rows, inFeatures]`.
  /// - Throws: `QLoRAError` on a size mismatch or an undecodable weight.
  public func inputGradient(_ outputGradient: [Float]) throws(QLoRAError) -> [Float] {
    guard outputGradient.count % outFeatures == 0 else {
      throw .shapeMismatch(context: "\(name) output gradient", expected: outFeatures, found: outputGradient.count)
    }
    let rows = outputGradient.count / outFeatures
    if let backend, rows > 0 { return try inputGradient(outputGradient, rows: rows, backend: backend) }
    var dx = [Float](repeating: 0, count: rows * inFeatures)
    let k = inFeatures
    let n = outFeatures
    try outputGradient.withUnsafeBufferPointer { (dy) throws(QLoRAError) in
      try dx.withUnsafeMutableBufferPointer { (out) throws(QLoRAError) in
        try forEachTile { range, tile in
          Matrix.multiplyAccumulate(dy, tile, into: out, m: rows, n: k, k: range.count, aStride: n, aOffset: range.lowerBound)
        }
      }
    }
    return dx
  }

  /// `dX = dY·W` as one GEMM per tile of W's rows: `dX += dY[:, tile] · tile`, with the tile transposed to
  /// `[inFeatures, t]` so that the backend's `x·wᵀ` kernel computes it.
  private func inputGradient(_ dy: [Float], rows: Int, backend: any KernelBackend) throws(QLoRAError) -> [Float] {
    if let quantized, let cpu = backend as? CPUBackend {
      // Straight from dY into dX, with no tensors to copy in and out.
      do {
        return try [Float](unsafeUninitializedCapacity: rows * inFeatures) { buffer, count in
          try dy.withUnsafeBufferPointer { gradient in
            guard let source = gradient.baseAddress, let target = buffer.baseAddress else { return }
            try cpu.linearInputGradient(source, rows: rows, weight: quantized, into: target)
          }
          count = rows * inFeatures
        }
      } catch {
        throw .quantized(name: name, reason: "input gradient on \(backend.name): \(error)")
      }
    }
    if let quantized, backend.accelerates(quantized.layout) {
      // The backend's input-gradient kernel (Metal runs a GEMM that decodes W as stored).
      do {
        let product = try backend.linearInputGradient(
          Tensor(dy, shape: [rows, outFeatures]), weight: quantized)
        return try product.floats()
      } catch {
        throw .quantized(name: name, reason: "input gradient on \(backend.name): \(error)")
      }
    }
    if let cpu = backend as? CPUBackend, let dx = denseInputGradient(dy, rows: rows, cpu: cpu) { return dx }
    var dx = [Float](repeating: 0, count: rows * inFeatures)
    let k = inFeatures
    let n = outFeatures
    var failure: QLoRAError?
    let threads = max(1, threads)
    try forEachTile(rows: max(1, gradientTileRows), threads: threads) { range, tile in
      guard failure == nil else { return }
      let t = range.count
      do {
        let transposed = TensorStorage(byteCount: k * t * 4) { raw in
          let out = raw.bindMemory(to: Float.self)
          guard let source = tile.baseAddress, let target = out.baseAddress else { return }
          // Blocked transpose [t, k] → [k, t], column blocks split across threads.
          ParallelRanges.run(count: (k + 63) / 64, threads: threads, minimum: 4) { blocks in
            for block in blocks {
              let c0 = block * 64
              let c1 = min(c0 + 64, k)
              for r in 0..<t {
                let from = r &* k
                for c in c0..<c1 { target[c &* t &+ r] = source[from &+ c] }
              }
            }
          }
        }
        let slice = TensorStorage(byteCount: rows * t * 4) { raw in
          let out = raw.bindMemory(to: Float.self)
          dy.withUnsafeBufferPointer { source in
            for i in 0..<rows {
              let from = i &* n &+ range.lowerBound
              for p in 0..<t { out[i &* t &+ p] = source[from &+ p] }
            }
          }
        }
        let product = try backend.denseLinear(
          Tensor(dtype: .float32, shape: [rows, t], storage: slice),
          weight: Tensor(dtype: .float32, shape: [k, t], storage: transposed), bias: nil)
        product.withUnsafeBytes { raw in
          let values = raw.bindMemory(to: Float.self)
          dx.withUnsafeMutableBufferPointer { out in
            ParallelRanges.run(count: rows * k, threads: threads, minimum: 1 << 14) { part in
              for index in part { out[index] += values[index] }
            }
          }
        }
      } catch {
        failure = .quantized(name: name, reason: "input gradient: \(error)")
      }
    }
    if let failure { throw failure }
    return dx
  }

  /// Calls `body` with the CPU backend and W as stored (`[outFeatures, inFeatures]` row-major, float32, float16
  /// or bfloat16) when W is dense and runs on the CPU backend; `nil` otherwise (quantized W, another backend).
  func withDenseCPUWeights<R>(
    _ body: (CPUBackend, UnsafeRawBufferPointer, DType) throws(QLoRAError) -> R
  ) throws(QLoRAError) -> R? {
    guard let cpu = backend as? CPUBackend else { return nil }
    if let denseTensor {
      return try denseTensor.withUnsafeBytes { (raw) throws(QLoRAError) in try body(cpu, raw, denseTensor.dtype) }
    }
    if let dense {
      let result = dense.withUnsafeBytes { raw in
        Result { () throws(QLoRAError) -> R in try body(cpu, raw, .float32) }
      }
      return try result.get()
    }
    return nil
  }

  /// `y = x·Wᵀ + b` for a dense W on the CPU backend, straight into the result (the runtime's projection would
  /// return a tensor to copy: for an lm_head's chunk of logits, another `rows × vocab` floats); `nil` for a
  /// quantized W.
  private func denseForward(_ x: [Float], rows: Int, cpu: CPUBackend) -> [Float]? {
    func product(_ values: UnsafeRawBufferPointer, _ dtype: DType) -> [Float] {
      [Float](unsafeUninitializedCapacity: rows * outFeatures) { buffer, count in
        x.withUnsafeBufferPointer { input in
          if let input = input.baseAddress, let w = values.baseAddress, let y = buffer.baseAddress {
            cpu.productWithRowMajorWeights(x: input, m: rows, weight: w, dtype: dtype, n: outFeatures, k: inFeatures, into: y)
          }
        }
        if let bias {
          for r in 0..<rows { for j in 0..<outFeatures { buffer[r * outFeatures + j] += bias[j] } }
        }
        count = rows * outFeatures
      }
    }
    if let denseTensor { return denseTensor.withUnsafeBytes { product($0, denseTensor.dtype) } }
    if let dense { return dense.withUnsafeBytes { product($0, .float32) } }
    return nil
  }

  /// `dX = dY·W` for a dense W on the CPU backend: W as stored (any float dtype) is the `[k, n]` operand of its
  /// k-major product, one product with no copy; `nil` for a quantized W (the backend's `linearInputGradient`).
  private func denseInputGradient(_ dy: [Float], rows: Int, cpu: CPUBackend) -> [Float]? {
    var dx = [Float](repeating: 0, count: rows * inFeatures)
    func product(_ values: UnsafeRawBufferPointer, _ dtype: DType) {
      dy.withUnsafeBufferPointer { d in
        dx.withUnsafeMutableBufferPointer { out in
          guard let x = d.baseAddress, let w = values.baseAddress, let base = out.baseAddress else { return }
          cpu.productWithKMajorWeights(
            x: x, m: rows, weight: w, dtype: dtype, ldw: inFeatures, n: inFeatures, k: outFeatures, into: base,
            accumulate: false)
        }
      }
    }
    if let denseTensor {
      denseTensor.withUnsafeBytes { product($0, denseTensor.dtype) }
    } else if let dense {
      dense.withUnsafeBytes { product($0, .float32) }
    } else {
      return nil
    }
    return dx
  }
}
