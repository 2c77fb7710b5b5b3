/// Bulk conversion between raw tensor bytes of any numeric dtype and `Float`.
///
/// The reference path: scalar, obviously correct, and the definition every fast kernel is tested
/// against. Narrowing rounds to nearest even (fp8 uses torch 2.13's saturating E4M3 rule).
public enum ElementConversion {
  /// Widens `source` (elements of `dtype`) into `destination`.
  ///
  /// - Parameters:
  ///   - source: Little-endian elements; at least `destination.count` of them.
  ///   - dtype: The element type of `source` (not `bool`).
  ///   - destination: Receives the values.
  public static func load(_ source: UnsafeRawBufferPointer, as dtype: DType, into destination: UnsafeMutableBufferPointer<Float>)
  {
    let count = destination.count
    switch dtype {
    case .float32:
      for i in 0..<count { destination[i] = source.loadUnaligned(fromByteOffset: i &* 4, as: Float.self) }
    case .float16:
      for i in 0..<count {
        destination[i] = HalfPrecision.float(float16Bits: source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
      }
    case .bfloat16:
      for i in 0..<count {
        destination[i] = HalfPrecision.float(bfloat16Bits: source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
      }
    case .float64:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 8, as: Double.self)) }
    case .float8E4M3, .float8E5M2:
      let encoding: Float8Encoding = dtype == .float8E4M3 ? .e4m3 : .e5m2
      for i in 0..<count { destination[i] = encoding.decode(source[i]) }
    case .int8:
      for i in 0..<count { destination[i] = Float(Int8(bitPattern: source[i])) }
    case .uint8, .bool:
      for i in 0..<count { destination[i] = Float(source[i]) }
    case .int16:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 2, as: Int16.self)) }
    case .uint16:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) }
    case .int32:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 4, as: Int32.self)) }
    case .uint32:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)) }
    case .int64:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 8, as: Int64.self)) }
    case .uint64:
      for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self)) }
    }
  }

  /// Rounds `source` into `destination` as elements of the floating-point `dtype`.
  ///
  /// - Parameters:
  ///   - source: The values.
  ///   - dtype: A floating-point dtype.
  ///   - destination: Room for `source.count * dtype.byteSize` bytes.
  /// - Throws: `QuantError.unsupportedDType` when `dtype` is not a floating-point type.
  public static func store(
    _ source: UnsafeBufferPointer<Float>, as dtype: DType, into destination: UnsafeMutableRawBufferPointer
  ) throws(QuantError) {
    switch dtype {
    case .float32:
      destination.copyMemory(from: UnsafeRawBufferPointer(source))
    case .float16:
      for (i, value) in source.enumerated() {
        destination.storeBytes(of: HalfPrecision.float16Bits(value), toByteOffset: i &* 2, as: UInt16.self)
      }
    case .bfloat16:
      for (i, value) in source.enumerated() {
        destination.storeBytes(of: HalfPrecision.bfloat16Bits(value), toByteOffset: i &* 2, as: UInt16.self)
      }
    case .float64:
      for (i, value) in source.enumerated() {
        destination.storeBytes(of: Double(value), toByteOffset: i &* 8, as: Double.self)
      }
    case .float8E4M3, .float8E5M2:
      let encoding: Float8Encoding = dtype == .float8E4M3 ? .e4m3 : .e5m2
      for (i, value) in source.enumerated() { destination[i] = encoding.encode(value) }
    default:
      throw .unsupportedDType(dtype, operation: "conversion from float32", supported: DType.floatingPointTypes)
    }
  }
}
