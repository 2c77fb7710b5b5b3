import Foundation

/// A deterministic random number generator (SplitMix64) for reproducible test data.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  /// Creates a generator.
  ///
  /// - Parameter seed: The seed; equal seeds give equal sequences on every platform.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform double in [0, 1) with 53 random bits.
  public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

  /// `count` standard-normal values (Box–Muller in double precision, rounded to float32).
  ///
  /// - Parameter count: How many values.
  /// - Returns: The values.
  public mutating func normal(_ count: Int) -> [Float] {
    var result: [Float] = []
    result.reserveCapacity(count + 1)
    while result.count < count {
      let u1 = 1 - nextUnit()
      let u2 = nextUnit()
      let radius = (-2 * log(u1)).squareRoot()
      result.append(Float(radius * cos(2 * Double.pi * u2)))
      result.append(Float(radius * sin(2 * Double.pi * u2)))
    }
    return Array(result.prefix(count))
  }
}
