/// A 128-bit content hash (two FNV-1a lanes) naming cached libraries. Not cryptographic: it only has
/// to make accidental collisions between different sources implausible.
struct ContentHash {
  private var low: UInt64 = 0xcbf2_9ce4_8422_2325
  private var high: UInt64 = 0x6c62_272e_07bb_0142

  /// Mixes `bytes` (and their length, so concatenations differ) into the hash.
  mutating func combine(_ bytes: some Sequence<UInt8>) {
    var count: UInt64 = 0
    for byte in bytes {
      low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
      high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 ^ (high >> 29)
      count &+= 1
    }
    low = (low ^ count) &* 0x0000_0100_0000_01B3
    high = (high ^ count) &* 0x0000_0100_0000_01B3
  }

  /// Mixes a string's UTF-8 bytes.
  mutating func combine(_ string: String) { combine(Array(string.utf8)) }

  /// 32 hexadecimal digits.
  var hexDigest: String {
    func hex(_ value: UInt64) -> String {
      let digits = String(value, radix: 16)
      return String(repeating: "0", count: 16 - digits.count) + digits
    }
    return hex(high) + hex(low)
  }
}
