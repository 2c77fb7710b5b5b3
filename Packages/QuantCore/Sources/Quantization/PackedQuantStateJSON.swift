/// The non-tensor part of a bitsandbytes 4-bit `QuantState`, as `QuantState.as_dict(packed=True)`
/// stores it: the UTF-8 bytes of `json.dumps(...)` in a `uint8` tensor named
/// `<weight>.quant_state.bitsandbytes__<quant_type>`.
///
/// The encoding reproduces Python's output byte for byte: default separators (`", "`, `": "`), keys in
/// insertion order `quant_type, blocksize, dtype, shape[, nested_blocksize, nested_dtype, nested_offset]`,
/// `shape` as a list, and `nested_offset` as Python's `repr` of the float32 offset widened to double.
public struct PackedQuantStateJSON: Sendable, Equatable {
  /// `"nf4"` or `"fp4"` (any format name for other codebooks).
  public var quantType: String
  /// Elements per block.
  public var blocksize: Int
  /// The original tensor dtype.
  public var dtype: DType
  /// The original tensor shape.
  public var shape: [Int]
  /// The double-quantization fields, present when the absmax is nested.
  public var nested: Nested?

  /// The fields bitsandbytes adds for double-quantized absmax.
  public struct Nested: Sendable, Equatable {
    /// Outer blocks per nested block (256).
    public var blocksize: Int
    /// The dtype of the nested state (`float32`).
    public var dtype: DType
    /// The offset (the mean of the absmax) as stored: a float32 value.
    public var offset: Float

    /// Creates the nested fields.
    ///
    /// - Parameters:
    ///   - blocksize: Outer blocks per nested block.
    ///   - dtype: The nested dtype.
    ///   - offset: The offset.
    public init(blocksize: Int, dtype: DType = .float32, offset: Float) {
      self.blocksize = blocksize
      self.dtype = dtype
      self.offset = offset
    }
  }

  /// Creates a record.
  ///
  /// - Parameters:
  ///   - quantType: The format name.
  ///   - blocksize: Elements per block.
  ///   - dtype: The original dtype.
  ///   - shape: The original shape.
  ///   - nested: Double-quantization fields, if any.
  public init(quantType: String, blocksize: Int, dtype: DType, shape: [Int], nested: Nested? = nil) {
    self.quantType = quantType
    self.blocksize = blocksize
    self.dtype = dtype
    self.shape = shape
    self.nested = nested
  }

  /// The key suffix bitsandbytes uses for this record (`quant_state.bitsandbytes__nf4`).
  ///
  /// - Parameter quantType: The format name.
  /// - Returns: The suffix after `<weight>.`.
  public static func tensorSuffix(quantType: String) -> String {
    "quant_state.bitsandbytes__" + quantType
  }

  /// The number of elements `shape` describes, checked.
  ///
  /// - Parameter context: The tensor's name, for the error message.
  /// - Returns: The product of the dimensions.
  /// - Throws: `QuantError.invalidShape` for a negative dimension or an overflowing product.
  public func elementCount(context: String) throws(QuantError) -> Int {
    var count = 1
    for dimension in shape {
      guard dimension >= 0 else { throw .invalidShape(shape, reason: "\(context): negative dimension in quant_state shape") }
      let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
      guard !overflow else { throw .invalidShape(shape, reason: "\(context): element count overflows") }
      count = product
    }
    return count
  }

  /// The JSON text, exactly as Python's `json.dumps` writes it.
  public var jsonText: String {
    var text = "{\"quant_type\": \(Self.quoted(quantType)), \"blocksize\": \(blocksize), "
    text += "\"dtype\": \(Self.quoted(dtype.rawValue)), \"shape\": [\(shape.map(String.init).joined(separator: ", "))]"
    if let nested {
      text += ", \"nested_blocksize\": \(nested.blocksize), \"nested_dtype\": \(Self.quoted(nested.dtype.rawValue))"
      text += ", \"nested_offset\": \(PythonFloatRepr.json(Double(nested.offset)))"
    }
    return text + "}"
  }

  /// The JSON text as a `uint8` tensor of shape `[byteCount]`.
  ///
  /// - Returns: The tensor bitsandbytes stores.
  /// - Throws: Never in practice (a `QuantError` from tensor creation).
  public func encodedTensor() throws(QuantError) -> Tensor {
    let bytes = Array(jsonText.utf8)
    return try Tensor(dtype: .uint8, shape: [bytes.count], bytes: bytes)
  }

  /// Parses a stored record.
  ///
  /// - Parameter bytes: The UTF-8 JSON (the `uint8` tensor's bytes).
  /// - Throws: `QuantError.invalidState` when the JSON is malformed, a field is missing or has the wrong type.
  public init(jsonBytes bytes: [UInt8]) throws(QuantError) {
    var parser = FlatJSONParser(bytes: bytes)
    let fields = try parser.parseObject()
    func field(_ key: String) throws(QuantError) -> FlatJSONParser.Value {
      guard let value = fields.first(where: { $0.key == key })?.value else {
        throw .invalidState("quant_state JSON has no '\(key)'")
      }
      return value
    }
    func string(_ key: String) throws(QuantError) -> String {
      guard case .string(let value) = try field(key) else { throw .invalidState("quant_state '\(key)' must be a string") }
      return value
    }
    func integer(_ key: String) throws(QuantError) -> Int {
      guard case .number(let text) = try field(key), let value = Int(text) else {
        throw .invalidState("quant_state '\(key)' must be an integer")
      }
      return value
    }
    func dtypeField(_ key: String) throws(QuantError) -> DType {
      let name = try string(key)
      guard let value = DType(torchName: name) else { throw .invalidState("quant_state '\(key)' names unknown dtype '\(name)'") }
      return value
    }
    quantType = try string("quant_type")
    blocksize = try integer("blocksize")
    self.dtype = try dtypeField("dtype")
    guard case .array(let dimensions) = try field("shape") else { throw .invalidState("quant_state 'shape' must be a list") }
    var shape: [Int] = []
    for dimension in dimensions {
      guard case .number(let text) = dimension, let value = Int(text) else {
        throw .invalidState("quant_state 'shape' must hold integers")
      }
      shape.append(value)
    }
    self.shape = shape
    if fields.contains(where: { $0.key == "nested_offset" }) {
      let offsetValue: Double
      switch try field("nested_offset") {
      case .number(let text):
        guard let parsed = Double(text) else { throw .invalidState("quant_state 'nested_offset' is not a number") }
        offsetValue = parsed
      case .nonFinite(let parsed):
        offsetValue = parsed
      default:
        throw .invalidState("quant_state 'nested_offset' must be a number")
      }
      // torch.tensor(float) rounds the Python double to float32 (nearest even).
      nested = Nested(
        blocksize: try integer("nested_blocksize"), dtype: try dtypeField("nested_dtype"), offset: Float(offsetValue))
    } else {
      nested = nil
    }
  }

  static func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      default:
        if scalar.value < 0x20 || scalar.value > 0x7E {
          // json.dumps(ensure_ascii=True) escapes everything outside printable ASCII.
          for unit in String(scalar).utf16 {
            let hex = String(unit, radix: 16)
            result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
          }
        } else {
          result.unicodeScalars.append(scalar)
        }
      }
    }
    return result + "\""
  }
}

/// A small JSON reader for flat objects of strings, numbers and lists (the bitsandbytes quant state).
struct FlatJSONParser {
  enum Value: Equatable {
    case string(String)
    case number(String)
    case nonFinite(Double)
    case array([Value])
    case literal(String)
  }

  let bytes: [UInt8]
  var position = 0

  init(bytes: [UInt8]) { self.bytes = bytes }

  mutating func parseObject() throws(QuantError) -> [(key: String, value: Value)] {
    skipSpace()
    try expect(UInt8(ascii: "{"))
    var fields: [(key: String, value: Value)] = []
    skipSpace()
    if peek() == UInt8(ascii: "}") {
      position += 1
      return try finish(fields)
    }
    while true {
      skipSpace()
      guard case .string(let key) = try parseValue() else { throw .invalidState("quant_state JSON: expected a key") }
      skipSpace()
      try expect(UInt8(ascii: ":"))
      skipSpace()
      fields.append((key, try parseValue()))
      skipSpace()
      if peek() == UInt8(ascii: ",") {
        position += 1
        continue
      }
      try expect(UInt8(ascii: "}"))
      return try finish(fields)
    }
  }

  private mutating func finish(_ fields: [(key: String, value: Value)]) throws(QuantError) -> [(key: String, value: Value)] {
    skipSpace()
    guard position == bytes.count else { throw .invalidState("quant_state JSON: trailing bytes at offset \(position)") }
    return fields
  }

  private mutating func parseValue() throws(QuantError) -> Value {
    guard let byte = peek() else { throw .invalidState("quant_state JSON: truncated") }
    switch byte {
    case UInt8(ascii: "\""):
      return .string(try parseString())
    case UInt8(ascii: "["):
      position += 1
      var items: [Value] = []
      skipSpace()
      if peek() == UInt8(ascii: "]") {
        position += 1
        return .array(items)
      }
      while true {
        skipSpace()
        items.append(try parseValue())
        skipSpace()
        if peek() == UInt8(ascii: ",") {
          position += 1
          continue
        }
        try expect(UInt8(ascii: "]"))
        return .array(items)
      }
    default:
      let start = position
      while let next = peek(), !" ,]}\t\r\n".utf8.contains(next) { position += 1 }
      let token = String(decoding: bytes[start..<position], as: UTF8.self)
      switch token {
      case "NaN": return .nonFinite(.nan)
      case "Infinity": return .nonFinite(.infinity)
      case "-Infinity": return .nonFinite(-.infinity)
      case "true", "false", "null": return .literal(token)
      default:
        guard !token.isEmpty, token.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }) else {
          throw .invalidState("quant_state JSON: unexpected '\(token)' at offset \(start)")
        }
        return .number(token)
      }
    }
  }

  private mutating func parseString() throws(QuantError) -> String {
    try expect(UInt8(ascii: "\""))
    var scalars = String.UnicodeScalarView()
    var raw: [UInt8] = []
    func flush() {
      scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
      raw.removeAll()
    }
    while let byte = peek() {
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        flush()
        return String(scalars)
      case UInt8(ascii: "\\"):
        flush()
        guard let escaped = peek() else { throw .invalidState("quant_state JSON: truncated escape") }
        position += 1
        switch escaped {
        case UInt8(ascii: "n"): scalars.append("\n")
        case UInt8(ascii: "t"): scalars.append("\t")
        case UInt8(ascii: "u"):
          guard position + 4 <= bytes.count,
            let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16),
            let scalar = Unicode.Scalar(code)
          else { throw .invalidState("quant_state JSON: bad \\u escape") }
          position += 4
          scalars.append(scalar)
        default: scalars.append(Unicode.Scalar(escaped))
        }
      default:
        raw.append(byte)
      }
    }
    throw .invalidState("quant_state JSON: unterminated string")
  }

  private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

  private mutating func skipSpace() {
    while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
  }

  private mutating func expect(_ byte: UInt8) throws(QuantError) {
    guard peek() == byte else {
      throw .invalidState("quant_state JSON: expected '\(Character(Unicode.Scalar(byte)))' at offset \(position)")
    }
    position += 1
  }
}
