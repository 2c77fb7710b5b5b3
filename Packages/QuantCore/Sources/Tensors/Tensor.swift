/// A dense, contiguous, row-major tensor: a dtype, a shape and the bytes.
///
/// `Tensor` is a value: its bytes never change after creation, so copies share storage freely.
/// The storage is either owned or borrowed (memory-mapped from a file) without copying.
public struct Tensor: Sendable {
  /// The element type.
  public let dtype: DType
  /// The dimensions, outermost first. An empty shape is a scalar (one element).
  public let shape: [Int]
  /// The storage holding this tensor's bytes (possibly shared with other tensors).
  public let storage: TensorStorage
  /// Where this tensor's bytes start inside `storage`.
  public let byteOffset: Int

  /// The number of elements (the product of `shape`; 1 for a scalar).
  public var elementCount: Int { shape.reduce(1, *) }
  /// The number of bytes the elements occupy.
  public var byteCount: Int { elementCount * dtype.byteSize }

  /// Creates a tensor over existing storage after checking that the byte range fits.
  ///
  /// - Parameters:
  ///   - dtype: The element type.
  ///   - shape: The dimensions; every dimension must be non-negative.
  ///   - storage: The bytes.
  ///   - byteOffset: Where the tensor starts in `storage`.
  /// - Throws: `QuantError.invalidShape` or `QuantError.byteCountMismatch` when the range does not fit.
  public init(dtype: DType, shape: [Int], storage: TensorStorage, byteOffset: Int = 0) throws(QuantError) {
    let count = try Tensor.checkedElementCount(shape)
    let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow, byteOffset >= 0, byteOffset <= storage.bytes.count,
      bytes <= storage.bytes.count - byteOffset
    else {
      throw .byteCountMismatch(
        context: "tensor \(dtype) \(shape) at offset \(byteOffset)", expected: bytes,
        found: storage.bytes.count - byteOffset)
    }
    self.dtype = dtype
    self.shape = shape
    self.storage = storage
    self.byteOffset = byteOffset
  }

  /// Creates a tensor whose bytes are written by `initialize`.
  ///
  /// - Parameters:
  ///   - dtype: The element type.
  ///   - shape: The dimensions.
  ///   - initialize: Writes exactly `elementCount * dtype.byteSize` bytes (memory starts zeroed).
  /// - Throws: `QuantError.invalidShape` for a negative or overflowing shape.
  public init(
    dtype: DType, shape: [Int], initializingWith initialize: (UnsafeMutableRawBufferPointer) -> Void
  ) throws(QuantError) {
    let count = try Tensor.checkedElementCount(shape)
    let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
    guard !overflow else { throw .invalidShape(shape, reason: "byte count overflows") }
    let storage = TensorStorage(byteCount: bytes, initializingWith: initialize)
    try self.init(dtype: dtype, shape: shape, storage: storage)
  }

  /// Creates a tensor from raw bytes (copied).
  ///
  /// - Parameters:
  ///   - dtype: The element type.
  ///   - shape: The dimensions.
  ///   - bytes: Exactly `elementCount * dtype.byteSize` bytes, little-endian.
  /// - Throws: `QuantError.byteCountMismatch` when the count is wrong.
  public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws(QuantError) {
    let count = try Tensor.checkedElementCount(shape)
    guard count * dtype.byteSize == bytes.count else {
      throw .byteCountMismatch(context: "tensor \(dtype) \(shape)", expected: count * dtype.byteSize, found: bytes.count)
    }
    try self.init(dtype: dtype, shape: shape) { $0.copyBytes(from: bytes) }
  }

  /// Creates a tensor from typed elements.
  ///
  /// - Parameters:
  ///   - values: The elements in row-major order.
  ///   - shape: The dimensions; defaults to `[values.count]`.
  /// - Throws: `QuantError.shapeMismatch` when `shape` does not hold `values.count` elements.
  public init<Element: TensorElement>(_ values: [Element], shape: [Int]? = nil) throws(QuantError) {
    let shape = shape ?? [values.count]
    let count = try Tensor.checkedElementCount(shape)
    guard count == values.count else {
      throw .shapeMismatch(context: "tensor from \(values.count) values", expected: [values.count], found: shape)
    }
    try self.init(dtype: Element.dtype, shape: shape) { raw in
      values.withUnsafeBytes { raw.copyMemory(from: $0) }
    }
  }

  /// Creates a floating-point tensor by rounding `Float` values to `dtype` (round to nearest even).
  ///
  /// - Parameters:
  ///   - values: The values in row-major order.
  ///   - dtype: `float32`, `float16`, `bfloat16`, `float64`, or an fp8 type (torch's saturating rule).
  ///   - shape: The dimensions; defaults to `[values.count]`.
  /// - Throws: `QuantError.unsupportedDType` for a non-float dtype, `shapeMismatch` for a wrong shape.
  public init(converting values: [Float], to dtype: DType, shape: [Int]? = nil) throws(QuantError) {
    let shape = shape ?? [values.count]
    let count = try Tensor.checkedElementCount(shape)
    guard count == values.count else {
      throw .shapeMismatch(context: "tensor from \(values.count) values", expected: [values.count], found: shape)
    }
    let storage = try TensorStorage(byteCount: count * dtype.byteSize) { (raw) throws(QuantError) in
      try values.withUnsafeBufferPointer { (buffer) throws(QuantError) in
        try ElementConversion.store(buffer, as: dtype, into: raw)
      }
    }
    try self.init(dtype: dtype, shape: shape, storage: storage)
  }

  /// Calls `body` with the tensor's bytes.
  ///
  /// - Parameter body: Reads the bytes; the pointer must not escape.
  /// - Returns: What `body` returns.
  @inlinable
  public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    try body(UnsafeRawBufferPointer(rebasing: storage.bytes[byteOffset..<(byteOffset + byteCount)]))
  }

  /// The bytes as an array (a copy).
  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

  /// The elements as `Element`, which must match the dtype exactly.
  ///
  /// - Parameter type: The element type to read.
  /// - Returns: A copy of the elements.
  /// - Throws: `QuantError.unsupportedDType` when `Element.dtype != dtype`.
  public func scalars<Element: TensorElement>(as type: Element.Type = Element.self) throws(QuantError) -> [Element] {
    guard Element.dtype == dtype else {
      throw .unsupportedDType(dtype, operation: "reading as \(Element.dtype)", supported: [Element.dtype])
    }
    return withUnsafeBytes { raw in
      [Element](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
        initialized = elementCount
      }
    }
  }

  /// The elements widened to `Float` (exact for every float dtype of 32 bits or fewer and for 8/16-bit integers).
  ///
  /// - Returns: A new array of `elementCount` values.
  /// - Throws: `QuantError.unsupportedDType` for `bool`.
  public func floats() throws(QuantError) -> [Float] {
    guard dtype != .bool else {
      throw .unsupportedDType(dtype, operation: "conversion to float32", supported: DType.numericTypes)
    }
    return withUnsafeBytes { raw in
      [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
        ElementConversion.load(raw, as: dtype, into: buffer)
        initialized = elementCount
      }
    }
  }

  /// The same bytes with another shape of equal element count.
  ///
  /// - Parameter newShape: The new dimensions.
  /// - Returns: A tensor sharing this storage.
  /// - Throws: `QuantError.shapeMismatch` when the element counts differ.
  public func reshaped(_ newShape: [Int]) throws(QuantError) -> Tensor {
    let count = try Tensor.checkedElementCount(newShape)
    guard count == elementCount else {
      throw .shapeMismatch(context: "reshape", expected: shape, found: newShape)
    }
    return try Tensor(dtype: dtype, shape: newShape, storage: storage, byteOffset: byteOffset)
  }

  /// The same bytes reinterpreted as another dtype (as torch's `.view(dtype)` on a flat tensor).
  ///
  /// - Parameters:
  ///   - newDType: The dtype to view the bytes as.
  ///   - shape: The new shape; its byte count must equal this tensor's.
  /// - Returns: A tensor sharing this storage.
  /// - Throws: `QuantError.byteCountMismatch` when the byte counts differ.
  public func viewed(as newDType: DType, shape newShape: [Int]) throws(QuantError) -> Tensor {
    let count = try Tensor.checkedElementCount(newShape)
    guard count * newDType.byteSize == byteCount else {
      throw .byteCountMismatch(
        context: "view \(dtype)\(shape) as \(newDType)\(newShape)", expected: byteCount, found: count * newDType.byteSize)
    }
    return try Tensor(dtype: newDType, shape: newShape, storage: storage, byteOffset: byteOffset)
  }

  /// The elements rounded to another floating-point dtype (round to nearest even).
  ///
  /// - Parameter newDType: The target dtype.
  /// - Returns: A new tensor with the same shape.
  /// - Throws: `QuantError.unsupportedDType` when either dtype is not a float type.
  public func converted(to newDType: DType) throws(QuantError) -> Tensor {
    if newDType == dtype { return self }
    return try Tensor(converting: floats(), to: newDType, shape: shape)
  }

  static func checkedElementCount(_ shape: [Int]) throws(QuantError) -> Int {
    var count = 1
    for dimension in shape {
      guard dimension >= 0 else { throw .invalidShape(shape, reason: "negative dimension") }
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow else { throw .invalidShape(shape, reason: "element count overflows") }
      count = product
    }
    return count
  }
}

extension DType {
  /// The floating-point dtypes.
  public static let floatingPointTypes: [DType] = allCases.filter(\.isFloatingPoint)
  /// Every dtype except `bool`.
  public static let numericTypes: [DType] = allCases.filter { $0 != .bool }
}
