import QuantCore

/// Widens float16 or bfloat16 to float32 and counts NaN and infinite values in the same pass.
enum HalfWidening {
  /// Widens `source` (little-endian half-precision elements, 2-byte aligned for the fast loop) into
  /// `destination` (one float per element) exactly.
  ///
  /// - Returns: The number of NaN or infinite elements.
  static func widen(_ source: UnsafeRawBufferPointer, bfloat16: Bool, into destination: UnsafeMutableBufferPointer<Float>)
    -> Int
  {
    let count = destination.count
    guard let base = source.baseAddress, count > 0 else { return 0 }
    guard Int(bitPattern: base) % 2 == 0 else {
      ElementConversion.load(source, as: bfloat16 ? .bfloat16 : .float16, into: destination)
      return NonFiniteScan.count(in: source, dtype: bfloat16 ? .bfloat16 : .float16)
    }
    let halves = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt16.self), count: count)
    let mask: UInt16 = bfloat16 ? 0x7F80 : 0x7C00
    var found = 0
    var start = 0
    // Per stretch of at most 2^15 elements a 32-bit counter cannot overflow and stays in a vector register.
    while start < count {
      let end = min(start + (1 << 15), count)
      var stretch: UInt32 = 0
      if bfloat16 {
        for index in start..<end {
          let bits = halves[index]
          destination[index] = Float(bitPattern: UInt32(bits) << 16)
          stretch &+= bits & mask == mask ? 1 : 0
        }
      } else {
        for index in start..<end {
          let bits = halves[index]
          destination[index] = HalfPrecision.float(float16Bits: bits)
          stretch &+= bits & mask == mask ? 1 : 0
        }
      }
      found += Int(stretch)
      start = end
    }
    return found
  }
}
