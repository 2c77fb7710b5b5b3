/// Row-major float32 matrix products for the training ops (the shapes here are adapter-sized or one
/// decoded tile): loops over a contiguous inner dimension, dot products in 8-lane SIMD partial sums.
package enum Matrix {
  /// `c[m, n] (+)= a[m, k] · b[n, k]ᵀ`.
  package static func multiplyTransposed(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
    m: Int, n: Int, k: Int, accumulate: Bool = false, cStride: Int? = nil, cOffset: Int = 0, threads: Int = 1
  ) {
    let ldc = cStride ?? n
    guard let aBase = a.baseAddress, let bBase = b.baseAddress else { return }
    ParallelRanges.run(count: m, threads: threads, minimum: rowsPerThread(work: n &* k)) { rows in
      for i in rows {
        let rowA = aBase + i &* k
        for j in 0..<n {
          let rowB = bBase + j &* k
          let sum = dot(rowA, rowB, count: k)
          let index = i &* ldc &+ cOffset &+ j
          c[index] = accumulate ? c[index] + sum : sum
        }
      }
    }
  }

  /// The fewest rows worth a thread when each row costs `work` multiply-adds (about 64 k per range).
  static func rowsPerThread(work: Int) -> Int { max(1, (1 << 16) / max(1, work)) }

  /// `Σ a[p]·b[p]` over `count` values, in two 8-lane SIMD partial sums and a scalar tail.
  @inline(__always)
  package static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes0 = SIMD8<Float>()
    var lanes1 = SIMD8<Float>()
    var p = 0
    while p &+ 16 <= count {
      lanes0 +=
        UnsafeRawPointer(a + p).loadUnaligned(as: SIMD8<Float>.self)
        * UnsafeRawPointer(b + p).loadUnaligned(as: SIMD8<Float>.self)
      lanes1 +=
        UnsafeRawPointer(a + p + 8).loadUnaligned(as: SIMD8<Float>.self)
        * UnsafeRawPointer(b + p + 8).loadUnaligned(as: SIMD8<Float>.self)
      p &+= 16
    }
    var sum = (lanes0 + lanes1).sum()
    while p < count {
      sum += a[p] * b[p]
      p &+= 1
    }
    return sum
  }

  /// `c[m, n] += a[m, k] · b[k, n]` where `a` is read with row stride `aStride` from `aOffset`.
  package static func multiplyAccumulate(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
    m: Int, n: Int, k: Int, aStride: Int? = nil, aOffset: Int = 0, threads: Int = 1
  ) {
    let lda = aStride ?? k
    guard let bBase = b.baseAddress, let cBase = c.baseAddress else { return }
    ParallelRanges.run(count: m, threads: threads, minimum: rowsPerThread(work: n &* k)) { rows in
      for i in rows {
        let rowC = cBase + i &* n
        for p in 0..<k {
          let scale = a[i &* lda &+ aOffset &+ p]
          if scale == 0 { continue }
          axpy(scale, bBase + p &* n, into: rowC, count: n)
        }
      }
    }
  }

  /// `c[n, k] += a[m, n]ᵀ · b[m, k]` (a weight gradient from output gradients and inputs).
  package static func transposedMultiplyAccumulate(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
    m: Int, n: Int, k: Int, threads: Int = 1
  ) {
    guard let bBase = b.baseAddress, let cBase = c.baseAddress else { return }
    // Threads split c's columns, so every element is still summed over i in order.
    let parts = k >= 256 && m &* n &* k >= 1 << 16 ? (k + 63) / 64 : 1
    ParallelRanges.run(count: parts, threads: threads) { blocks in
      let first = blocks.lowerBound * k / parts
      let last = blocks.upperBound * k / parts
      for i in 0..<m {
        let rowA = i &* n
        let rowB = bBase + (i &* k &+ first)
        for j in 0..<n {
          let scale = a[rowA &+ j]
          if scale == 0 { continue }
          axpy(scale, rowB, into: cBase + (j &* k &+ first), count: last &- first)
        }
      }
    }
  }

  /// `y[0..<count] += s · x[0..<count]`, eight lanes at a time.
  @inline(__always)
  package static func axpy(_ s: Float, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    let lanes = SIMD8<Float>(repeating: s)
    var p = 0
    while p &+ 8 <= count {
      let sum =
        UnsafeRawPointer(y + p).loadUnaligned(as: SIMD8<Float>.self)
        + lanes * UnsafeRawPointer(x + p).loadUnaligned(as: SIMD8<Float>.self)
      UnsafeMutableRawPointer(y + p).storeBytes(of: sum, as: SIMD8<Float>.self)
      p &+= 8
    }
    while p < count {
      y[p] += s * x[p]
      p &+= 1
    }
  }

  /// Writes `sourceᵀ` `[columns, rows]` for row-major `source` `[rows, columns]`, in 8 × 8 tiles.
  package static func transpose(
    _ source: UnsafePointer<Float>, rows: Int, columns: Int, into target: UnsafeMutablePointer<Float>
  ) {
    for r0 in stride(from: 0, to: rows, by: 8) {
      let r1 = min(rows, r0 &+ 8)
      for c0 in stride(from: 0, to: columns, by: 8) {
        let c1 = min(columns, c0 &+ 8)
        for r in r0..<r1 { for c in c0..<c1 { target[c &* rows &+ r] = source[r &* columns &+ c] } }
      }
    }
  }

  /// `bᵀ` for row-major `b` `[rows, columns]`: `[columns, rows]`.
  package static func transposed(_ b: [Float], rows: Int, columns: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: b.count) { target, count in
      b.withUnsafeBufferPointer { source in
        if let from = source.baseAddress, let to = target.baseAddress {
          transpose(from, rows: rows, columns: columns, into: to)
        }
      }
      count = b.count
    }
  }
}

extension Array where Element == Float {
  /// Checks the array holds `count` values.
  package func require(_ count: Int, _ context: String) throws(QLoRAError) {
    guard self.count == count else { throw .shapeMismatch(context: context, expected: count, found: self.count) }
  }
}
