/// Row-major float32 matrix products for the training ops (the shapes here are adapter-sized or one
/// decoded tile, so plain loops with a contiguous inner dimension are enough).
package enum Matrix {
  /// `c[m, n] (+)= a[m, k] · b[n, k]ᵀ`.
  package static func multiplyTransposed(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
    m: Int, n: Int, k: Int, accumulate: Bool = false, cStride: Int? = nil, cOffset: Int = 0
  ) {
    let ldc = cStride ?? n
    for i in 0..<m {
      let rowA = i &* k
      for j in 0..<n {
        let rowB = j &* k
        var sum: Float = 0
        for p in 0..<k { sum += a[rowA &+ p] * b[rowB &+ p] }
        let index = i &* ldc &+ cOffset &+ j
        c[index] = accumulate ? c[index] + sum : sum
      }
    }
  }

  /// `c[m, n] += a[m, k] · b[k, n]` where `a` is read with row stride `aStride` from `aOffset`.
  package static func multiplyAccumulate(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
    m: Int, n: Int, k: Int, aStride: Int? = nil, aOffset: Int = 0
  ) {
    let lda = aStride ?? k
    for i in 0..<m {
      let rowC = i &* n
      for p in 0..<k {
        let scale = a[i &* lda &+ aOffset &+ p]
        if scale == 0 { continue }
        let rowB = p &* n
        for j in 0..<n { c[rowC &+ j] += scale * b[rowB &+ j] }
      }
    }
  }

  /// `c[n, k] += a[m, n]ᵀ · b[m, k]` (a weight gradient from output gradients and inputs).
  package static func transposedMultiplyAccumulate(
    _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, into c: UnsafeMutableBufferPointer<Float>,
    m: Int, n: Int, k: Int
  ) {
    for i in 0..<m {
      let rowA = i &* n
      let rowB = i &* k
      for j in 0..<n {
        let scale = a[rowA &+ j]
        if scale == 0 { continue }
        let rowC = j &* k
        for p in 0..<k { c[rowC &+ p] += scale * b[rowB &+ p] }
      }
    }
  }
}

extension Array where Element == Float {
  /// Checks the array holds `count` values.
  package func require(_ count: Int, _ context: String) throws(QLoRAError) {
    guard self.count == count else { throw .shapeMismatch(context: context, expected: count, found: self.count) }
  }
}
