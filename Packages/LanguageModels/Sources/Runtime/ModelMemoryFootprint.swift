/// How much memory a loaded model holds (the original's `get_memory_footprint(model)`), split by
/// weight format, plus a cache's key/value storage.
public struct ModelMemoryFootprint: Sendable, Equatable, CustomStringConvertible {
  /// Bytes of weights per format or dtype name (`nf4`, `bf16`, `f32`, …), quantization state included.
  public var weightBytesByFormat: [String: Int]
  /// Parameters per format or dtype name.
  public var parametersByFormat: [String: Int]
  /// Bytes of the key/value cache counted (0 without one).
  public var cacheBytes: Int

  /// All weight bytes.
  public var weightBytes: Int { weightBytesByFormat.values.reduce(0, +) }
  /// Weights and cache.
  public var totalBytes: Int { weightBytes + cacheBytes }

  /// `"nf4 1.2 MB, bf16 0.3 MB; cache 0.1 MB; total 1.6 MB"`.
  public var description: String {
    let parts = weightBytesByFormat.sorted { $0.key < $1.key }.map { "\($0.key) \(Self.megabytes($0.value))" }
    return parts.joined(separator: ", ") + "; cache \(Self.megabytes(cacheBytes)); total \(Self.megabytes(totalBytes))"
  }

  private static func megabytes(_ bytes: Int) -> String {
    let tenths = (bytes * 10 + 500_000) / 1_000_000
    return "\(tenths / 10).\(tenths % 10) MB"
  }
}
