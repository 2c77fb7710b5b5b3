import QLoRA

/// Finite-difference checks: for `L(x) = Σ g ⊙ f(x)` with a fixed random `g`, compares the analytic
/// directional derivative `⟨dL/dx, v⟩` with the central difference `(L(x+hv) − L(x−hv)) / 2h` along several
/// random directions `v` (sums in Double; float32 ops, so tolerances are 1e-2 relative).
enum GradientCheck {
  static func random(_ count: Int, _ generator: inout SeededGenerator, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in (generator.nextUnitFloat() * 2 - 1) * scale }
  }

  static func dot(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) }
  }

  /// The largest relative error between analytic and numeric directional derivatives.
  static func worstError(
    at x: [Float], gradient: [Float], step: Float = 1e-2, directions: Int = 4, seed: UInt64 = 7,
    loss: ([Float]) throws -> Double
  ) rethrows -> Double {
    var generator = SeededGenerator(seed: seed)
    var worst = 0.0
    for _ in 0..<directions {
      let v = random(x.count, &generator)
      let plus = zip(x, v).map { $0 + step * $1 }
      let minus = zip(x, v).map { $0 - step * $1 }
      let numeric = (try loss(plus) - loss(minus)) / (2 * Double(step))
      let analytic = dot(gradient, v)
      worst = max(worst, abs(numeric - analytic) / max(abs(analytic), 1e-3))
    }
    return worst
  }
}
