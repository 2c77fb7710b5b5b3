/// A seeded random number generator (SplitMix64) for adapter initialisation, dropout masks and data
/// shuffling; its whole state is one `UInt64`, so a checkpoint can store it and resume bit-exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
  /// The generator state.
  public var state: UInt64

  /// Creates a generator.
  ///
  /// - Parameter seed: The seed.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform float in `[0, 1)` with 24 random bits.
  public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }
}
