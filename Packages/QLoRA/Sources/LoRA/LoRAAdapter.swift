import CPUKernels
import QuantCore

/// A LoRA adapter on one linear layer: `Δy = s · (drop(x)·Aᵀ)·Bᵀ` with `A [rank, inFeatures]`,
/// `B [outFeatures, rank]` and `s = alpha/rank` (`alpha/√rank` with rsLoRA), as PEFT's `lora.Linear`.
///
/// The factors are fp32 master weights; gradients accumulate into ``gradientA``/``gradientB`` across
/// micro-batches until the optimizer consumes them.
public struct LoRAAdapter: Sendable {
  /// Input features of the adapted layer.
  public let inFeatures: Int
  /// Output features of the adapted layer.
  public let outFeatures: Int
  /// The rank `r`.
  public let rank: Int
  /// The output multiplier `s`.
  public let scaling: Float
  /// The dropout probability on the adapter input.
  public let dropout: Float
  /// `lora_A` `[rank, inFeatures]`.
  public var a: [Float]
  /// `lora_B` `[outFeatures, rank]`.
  public var b: [Float]
  /// The accumulated `dL/dA`.
  public var gradientA: [Float]
  /// The accumulated `dL/dB`.
  public var gradientB: [Float]

  /// Creates an adapter with PEFT's initialisation: `A ~ U(±1/√in)` (`kaiming_uniform_(a=√5)`), `B = 0`.
  ///
  /// - Parameters:
  ///   - inFeatures: Input features.
  ///   - outFeatures: Output features.
  ///   - configuration: Rank, alpha, dropout and rsLoRA.
  ///   - generator: The seeded generator drawing `A`.
  /// - Throws: `QLoRAError.invalidSetting` on a non-positive rank or a dropout outside `[0, 1)`.
  public init(
    inFeatures: Int, outFeatures: Int, configuration: LoRAConfiguration, generator: inout SeededGenerator
  ) throws(QLoRAError) {
    try configuration.validate()
    let bound = 1 / Float(inFeatures).squareRoot()
    let a = (0..<(configuration.rank * inFeatures)).map { _ in (generator.nextUnitFloat() * 2 - 1) * bound }
    try self.init(
      a: a, b: [Float](repeating: 0, count: outFeatures * configuration.rank), inFeatures: inFeatures,
      outFeatures: outFeatures, configuration: configuration)
  }

  /// Creates an adapter from existing factors (a loaded adapter file).
  ///
  /// - Parameters:
  ///   - a: `lora_A` `[rank, inFeatures]`.
  ///   - b: `lora_B` `[outFeatures, rank]`.
  ///   - inFeatures: Input features.
  ///   - outFeatures: Output features.
  ///   - configuration: Rank, alpha, dropout and rsLoRA.
  /// - Throws: `QLoRAError` when the factor sizes disagree with the shape.
  public init(a: [Float], b: [Float], inFeatures: Int, outFeatures: Int, configuration: LoRAConfiguration)
    throws(QLoRAError)
  {
    try configuration.validate()
    try a.require(configuration.rank * inFeatures, "lora_A")
    try b.require(outFeatures * configuration.rank, "lora_B")
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    rank = configuration.rank
    scaling = configuration.scaling
    dropout = configuration.dropout
    self.a = a
    self.b = b
    gradientA = [Float](repeating: 0, count: a.count)
    gradientB = [Float](repeating: 0, count: b.count)
  }

  /// What the backward pass needs from the forward pass.
  public struct Saved: Sendable {
    /// The dropped-out input `x⊙m/(1−p)` `[rows, inFeatures]`.
    public var droppedInput: [Float]
    /// The dropout multiplier per input value (`m/(1−p)`); empty without dropout.
    public var mask: [Float]
    /// `u = x_d·Aᵀ` `[rows, rank]`.
    public var projected: [Float]
  }

  /// The adapter's contribution `s·(drop(x)·Aᵀ)·Bᵀ` for `x` `[rows, inFeatures]`.
  ///
  /// - Parameters:
  ///   - x: The layer input.
  ///   - generator: Draws the dropout mask when training with dropout; `nil` disables dropout (evaluation).
  /// - Returns: `[rows, outFeatures]` and what the backward pass reuses.
  /// - Throws: `QLoRAError.shapeMismatch` when `x` is not a whole number of rows.
  public func forward(_ x: [Float], generator: inout SeededGenerator?) throws(QLoRAError) -> (
    output: [Float], saved: Saved
  ) {
    let saved = try prepare(x, generator: &generator)
    var y = [Float](repeating: 0, count: x.count / inFeatures * outFeatures)
    addOutput(saved, into: &y)
    return (y, saved)
  }

  /// What the backward pass needs from input `x` `[rows, inFeatures]` (the dropout mask and `u = x_d·Aᵀ`),
  /// without the output: a recompute whose output nothing reads calls this alone. It draws the same dropout
  /// mask as ``forward(_:generator:)``.
  ///
  /// - Parameters:
  ///   - x: The layer input.
  ///   - generator: Draws the dropout mask; `nil` disables dropout.
  ///   - threads: Rows are split over this many threads (the result does not depend on it).
  /// - Returns: The saved state.
  /// - Throws: `QLoRAError.shapeMismatch` when `x` is not a whole number of rows.
  public func prepare(_ x: [Float], generator: inout SeededGenerator?, threads: Int = 1) throws(QLoRAError) -> Saved {
    guard x.count % inFeatures == 0 else {
      throw .shapeMismatch(context: "LoRA input", expected: inFeatures, found: x.count)
    }
    let rows = x.count / inFeatures
    var mask = [Float]()
    if dropout > 0, var rng = generator {
      let keep = 1 / (1 - dropout)
      mask = (0..<x.count).map { _ in rng.nextUnitFloat() < dropout ? 0 : keep }
      generator = rng
    }
    let dropped = Self.dropped(x, mask: mask)
    let u = dropped.withUnsafeBufferPointer { project($0, rows: rows, threads: threads) }
    return Saved(droppedInput: dropped, mask: mask, projected: u)
  }

  /// `u = x·Aᵀ` `[rows, rank]` for `x` `[rows, inFeatures]`, on the CPU backend's packed GEMM as
  /// `uᵀ = A·xᵀ`: `A` is the packed operand and `x` streams as the weights, so no copy of `x` is packed and its
  /// rows are split across threads. Fewer rows than `rank` (a decode step) take `inFeatures`-long dot products
  /// instead, which read `A` once without packing it.
  func project(_ x: UnsafeBufferPointer<Float>, rows: Int, threads: Int) -> [Float] {
    guard rows >= rank else {
      var projected = [Float](repeating: 0, count: rows * rank)
      a.withUnsafeBufferPointer { factor in
        projected.withUnsafeMutableBufferPointer { out in
          Matrix.multiplyTransposed(x, factor, into: out, m: rows, n: rank, k: inFeatures)
        }
      }
      return projected
    }
    var projectedT = [Float](repeating: 0, count: rank * rows)
    a.withUnsafeBufferPointer { factor in
      projectedT.withUnsafeMutableBufferPointer { uT in
        guard let input = x.baseAddress, let factor = factor.baseAddress, let uT = uT.baseAddress else { return }
        AdapterProducts.backend(threads: threads).productWithRowMajorWeights(
          x: factor, m: rank, weight: UnsafeRawPointer(input), dtype: .float32, n: rows, k: inFeatures, into: uT,
          packedForAnyRows: true)
      }
    }
    return Matrix.transposed(projectedT, rows: rank, columns: rows)
  }

  /// The dropped-out input `x⊙mask` (`x` itself without a mask): what ``Saved/droppedInput`` holds.
  static func dropped(_ x: [Float], mask: [Float]) -> [Float] {
    guard !mask.isEmpty else { return x }
    var dropped = x
    for i in 0..<dropped.count { dropped[i] *= mask[i] }
    return dropped
  }

  /// Adds `s·u·Bᵀ` to `y` `[rows, outFeatures]`, one contiguous row of `Bᵀ` at a time.
  ///
  /// - Parameters:
  ///   - saved: The state from ``prepare(_:generator:)``.
  ///   - y: The base layer's output, to add to.
  ///   - threads: Rows are split over this many threads (the result does not depend on it).
  public func addOutput(_ saved: Saved, into y: inout [Float], threads: Int = 1) {
    y.withUnsafeMutableBufferPointer { out in addOutput(projected: saved.projected, into: out, threads: threads) }
  }

  /// `y += (s·u)·Bᵀ` for `u` `[rows, rank]`.
  ///
  /// Fewer rows than `rank` (a decode step) use `rank`-long dot products with `B` as stored; more rows pay
  /// for one transpose of `B` and run the CPU backend's packed GEMM over contiguous rows of `Bᵀ`.
  func addOutput(projected: [Float], into y: UnsafeMutableBufferPointer<Float>, threads: Int = 1) {
    let rows = projected.count / rank
    let scaled = projected.map { $0 * scaling }
    guard rows >= rank else {
      scaled.withUnsafeBufferPointer { u in
        b.withUnsafeBufferPointer { factor in
          Matrix.multiplyTransposed(u, factor, into: y, m: rows, n: outFeatures, k: rank, accumulate: true)
        }
      }
      return
    }
    let bT = Matrix.transposed(b, rows: outFeatures, columns: rank)
    scaled.withUnsafeBufferPointer { u in
      bT.withUnsafeBytes { factor in
        guard let u = u.baseAddress, let factor = factor.baseAddress, let y = y.baseAddress else { return }
        AdapterProducts.backend(threads: threads).productWithKMajorWeights(
          x: u, m: rows, weight: factor, dtype: .float32, ldw: outFeatures, n: outFeatures, k: rank, into: y,
          accumulate: true)
      }
    }
  }

  /// Accumulates `dB += s·dYᵀu` and `dA += duᵀx_d` (with `du = s·dY·B`) and returns the adapter's share
  /// of the input gradient, `(du·A)⊙m/(1−p)`.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dy` `[rows, outFeatures]`.
  ///   - saved: The forward pass's ``Saved``.
  /// - Returns: The adapter's contribution to `dL/dx` `[rows, inFeatures]`.
  /// - Throws: `QLoRAError.shapeMismatch` on inconsistent sizes.
  public mutating func backward(_ outputGradient: [Float], saved: Saved) throws(QLoRAError) -> [Float] {
    var dx = [Float](repeating: 0, count: saved.projected.count / rank * inFeatures)
    try backward(outputGradient, saved: saved, addingInto: &dx)
    return dx
  }

  /// As ``backward(_:saved:)``, adding the adapter's share of the input gradient to `inputGradient`
  /// `[rows, inFeatures]` (the base layer's `dY·W`).
  ///
  /// The products run on the CPU backend's packed GEMM with a `rank`-row operand packed (`(s·u)ᵀ`, `Bᵀ`,
  /// `duᵀ`, `du`); `dY` and `x_d` stream as weights, so no `[rows, features]` matrix is copied or transposed.
  ///
  /// - Parameters:
  ///   - outputGradient: `dL/dy` `[rows, outFeatures]`.
  ///   - saved: The forward pass's ``Saved``.
  ///   - inputGradient: `dL/dx`, to add to.
  ///   - threads: The products are split over this many threads (the result does not depend on it).
  /// - Throws: `QLoRAError.shapeMismatch` on inconsistent sizes.
  public mutating func backward(
    _ outputGradient: [Float], saved: Saved, addingInto inputGradient: inout [Float], threads: Int = 1
  ) throws(QLoRAError) {
    let rows = saved.projected.count / rank
    try outputGradient.require(rows * outFeatures, "LoRA output gradient")
    try inputGradient.require(rows * inFeatures, "LoRA input gradient")
    try saved.droppedInput.require(rows * inFeatures, "LoRA saved input")
    let (n, r, k) = (outFeatures, rank, inFeatures)
    let cpu = AdapterProducts.backend(threads: threads)
    // (s·u)ᵀ [r, rows]: the left operand of dBᵀ = (s·u)ᵀ·dY.
    let scaledProjectedT = Matrix.transposed(saved.projected.map { $0 * scaling }, rows: rows, columns: r)
    var duT = [Float](repeating: 0, count: r * rows)
    var gradientBT = [Float](repeating: 0, count: r * n)
    let bT = Matrix.transposed(b, rows: n, columns: r)
    outputGradient.withUnsafeBytes { dy in
      guard let dy = dy.baseAddress else { return }
      // dBᵀ[r, n] = (s·u)ᵀ·dY, reading dY [rows, n] as k-major weights, and duᵀ = Bᵀ·dYᵀ, reading it as
      // row-major weights: only the rank-row operands are packed.
      scaledProjectedT.withUnsafeBufferPointer { uT in
        gradientBT.withUnsafeMutableBufferPointer { gBT in
          guard let uT = uT.baseAddress, let gBT = gBT.baseAddress else { return }
          cpu.productWithKMajorWeights(
            x: uT, m: r, weight: dy, dtype: .float32, ldw: n, n: n, k: rows, into: gBT, accumulate: false)
        }
      }
      bT.withUnsafeBufferPointer { factor in
        duT.withUnsafeMutableBufferPointer { duT in
          guard let factor = factor.baseAddress, let duT = duT.baseAddress else { return }
          cpu.productWithRowMajorWeights(
            x: factor, m: r, weight: dy, dtype: .float32, n: rows, k: n, into: duT, packedForAnyRows: true)
        }
      }
    }
    for i in duT.indices { duT[i] *= scaling }
    for j in 0..<n { for q in 0..<r { gradientB[j &* r &+ q] += gradientBT[q &* n &+ j] } }
    // dA[r, k] += duᵀ·x_d and dX += du·A (⊙ the dropout multiplier).
    duT.withUnsafeBufferPointer { duT in
      saved.droppedInput.withUnsafeBytes { xd in
        gradientA.withUnsafeMutableBufferPointer { gA in
          guard let duT = duT.baseAddress, let xd = xd.baseAddress, let gA = gA.baseAddress else { return }
          cpu.productWithKMajorWeights(
            x: duT, m: r, weight: xd, dtype: .float32, ldw: k, n: k, k: rows, into: gA, accumulate: true)
        }
      }
    }
    let du = Matrix.transposed(duT, rows: r, columns: rows)
    func addShare(into out: UnsafeMutableBufferPointer<Float>) {
      du.withUnsafeBufferPointer { du in
        a.withUnsafeBytes { factor in
          guard let du = du.baseAddress, let factor = factor.baseAddress, let out = out.baseAddress else { return }
          cpu.productWithKMajorWeights(
            x: du, m: rows, weight: factor, dtype: .float32, ldw: k, n: k, k: r, into: out, accumulate: true)
        }
      }
    }
    if saved.mask.isEmpty {
      inputGradient.withUnsafeMutableBufferPointer { addShare(into: $0) }
    } else {
      var share = [Float](repeating: 0, count: rows * k)
      share.withUnsafeMutableBufferPointer { addShare(into: $0) }
      for i in 0..<share.count { inputGradient[i] += share[i] * saved.mask[i] }
    }
  }

  /// Clears the accumulated gradients.
  public mutating func zeroGradients() {
    for i in gradientA.indices { gradientA[i] = 0 }
    for i in gradientB.indices { gradientB[i] = 0 }
  }

  /// The merged weight delta `s·B·A` `[outFeatures, inFeatures]` (for fusing).
  public var delta: [Float] {
    var w = [Float](repeating: 0, count: outFeatures * inFeatures)
    let (r, k) = (rank, inFeatures)
    b.withUnsafeBufferPointer { factorB in
      a.withUnsafeBufferPointer { factorA in
        w.withUnsafeMutableBufferPointer { out in
          Matrix.multiplyAccumulate(factorB, factorA, into: out, m: outFeatures, n: k, k: r)
        }
      }
    }
    return w.map { $0 * scaling }
  }
}

/// The CPU backends the adapter products run on, one per thread count, so their scratch memory (packed
/// activations) is reused across layers and steps.
enum AdapterProducts {
  private static let backends = Locked<[Int: CPUBackend]>([:])

  /// The CPU backend with `threads` threads (at least one).
  static func backend(threads: Int) -> CPUBackend {
    let threads = max(1, threads)
    return backends.withLock { cache in
      if let backend = cache[threads] { return backend }
      let backend = CPUBackend(threads: threads)
      cache[threads] = backend
      return backend
    }
  }
}
