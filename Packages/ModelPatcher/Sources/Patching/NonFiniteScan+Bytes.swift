import QuantCore

extension NonFiniteScan {
  /// Counts NaN and infinite values in raw little-endian elements of `dtype` (0 for non-float dtypes):
  /// a branch-free loop over aligned words that the compiler vectorizes.
  ///
  /// - Parameters:
  ///   - bytes: Whole elements.
  ///   - dtype: Their type.
  static func count(in bytes: UnsafeRawBufferPointer, dtype: DType) -> Int {
    switch dtype {
    case .float32: count(bytes, as: UInt32.self, exponentMask: 0x7F80_0000)
    case .float16: largestMagnitude(bytes) < 0x7C00 ? 0 : count(bytes, as: UInt16.self, exponentMask: 0x7C00)
    case .bfloat16: largestMagnitude(bytes) < 0x7F80 ? 0 : count(bytes, as: UInt16.self, exponentMask: 0x7F80)
    case .float64: count(bytes, as: UInt64.self, exponentMask: 0x7FF0_0000_0000_0000)
    default: 0
    }
  }

  /// The largest `bits & 0x7FFF` of 16-bit elements (a signed 16-bit maximum, which vectorizes with SSE2):
  /// NaN and infinities are the largest magnitudes, so most chunks need no count at all.
  private static func largestMagnitude(_ bytes: UnsafeRawBufferPointer) -> Int16 {
    let elements = bytes.count / 2
    guard let base = bytes.baseAddress, elements > 0 else { return 0 }
    guard Int(bitPattern: base) % 2 == 0 else { return .max }
    let words = UnsafeBufferPointer(start: base.assumingMemoryBound(to: Int16.self), count: elements)
    var largest: Int16 = 0
    for word in words { largest = max(largest, word & 0x7FFF) }
    return largest
  }

  private static func count<Bits: FixedWidthInteger & UnsignedInteger>(
    _ bytes: UnsafeRawBufferPointer, as _: Bits.Type, exponentMask: Bits
  ) -> Int {
    let size = MemoryLayout<Bits>.size
    let elements = bytes.count / size
    guard let base = bytes.baseAddress, elements > 0 else { return 0 }
    guard Int(bitPattern: base) % MemoryLayout<Bits>.alignment == 0 else {
      var found = 0
      for index in 0..<elements
      where bytes.loadUnaligned(fromByteOffset: index * size, as: Bits.self) & exponentMask == exponentMask {
        found += 1
      }
      return found
    }
    let words = UnsafeBufferPointer(start: base.assumingMemoryBound(to: Bits.self), count: elements)
    var found = 0
    var index = 0
    // Sums of 0/1 per stretch of at most 2^15 words keep the vector accumulator narrow.
    while index < elements {
      let end = min(index + (1 << 15), elements)
      var stretch: UInt32 = 0
      for position in index..<end {
        stretch &+= UInt32(truncatingIfNeeded: (words[position] & exponentMask) == exponentMask ? 1 : 0)
      }
      found += Int(stretch)
      index = end
    }
    return found
  }
}
