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
  ///
  /// With `aligned`, each direction is a random vector plus `sign(gradient)` times a random magnitude: the
  /// directional derivative then has no cancellation between components, so it stays well above the float32
  /// loss's rounding noise divided by `2h` (a purely random direction over thousands of weights can give a
  /// derivative near that noise). The random part still probes components the gradient claims are zero.
  static func worstError(
    at x: [Float], gradient: [Float], step: Float = 1e-2, directions: Int = 4, seed: UInt64 = 7,
    aligned: Bool = false, loss: ([Float]) throws -> Double
  ) rethrows -> Double {
    var generator = SeededGenerator(seed: seed)
    var worst = 0.0
    for _ in 0..<directions {
      var v = random(x.count, &generator)
      if aligned {
        for i in v.indices where gradient[i] != 0 {
          v[i] += (gradient[i] > 0 ? 1 : -1) * (1 + generator.nextUnitFloat())
        }
      }
      func central(_ h: Float) throws -> Double {
        let plus = zip(x, v).map { $0 + h * $1 }
        let minus = zip(x, v).map { $0 - h * $1 }
        return (try loss(plus) - loss(minus)) / (2 * Double(h))
      }
      // Aligned directions are longer, so the h² term of the central difference is removed by Richardson
      // extrapolation over h and h/2.
      let numeric = aligned ? (4 * (try central(step / 2)) - (try central(step))) / 3 : try central(step)
      let analytic = dot(gradient, v)
      worst = max(worst, abs(numeric - analytic) / max(abs(analytic), 1e-3))
    }
    return worst
  }
}
