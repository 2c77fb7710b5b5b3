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

  /// The record as a JSON object, keys in bitsandbytes' insertion order.
  var jsonValue: JSONValue {
    var members = [
      JSONMember(key: "quant_type", value: .string(quantType)),
      JSONMember(key: "blocksize", value: .number(JSONNumber(blocksize))),
      JSONMember(key: "dtype", value: .string(dtype.rawValue)),
      JSONMember(key: "shape", value: .array(shape.map { .number(JSONNumber($0)) })),
    ]
    if let nested {
      members += [
        JSONMember(key: "nested_blocksize", value: .number(JSONNumber(nested.blocksize))),
        JSONMember(key: "nested_dtype", value: .string(nested.dtype.rawValue)),
        JSONMember(key: "nested_offset", value: .number(JSONNumber(Double(nested.offset)))),
      ]
    }
    return .object(members)
  }

  /// The JSON text, exactly as Python's `json.dumps` writes it.
  public var jsonText: String { jsonValue.text(style: .python(indent: nil, sortKeys: false)) }

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
    let fields: JSONValue
    do throws(JSONParser.Failure) {
      fields = try JSONParser.parse(bytes: bytes, allowsNonFiniteNumbers: true)
    } catch {
      throw .invalidState("quant_state JSON: \(error)")
    }
    guard fields.members != nil else { throw .invalidState("quant_state JSON: expected an object, not \(fields.kindName)") }
    func field(_ key: String) throws(QuantError) -> JSONValue {
      guard let value = fields[key] else { throw .invalidState("quant_state JSON has no '\(key)'") }
      return value
    }
    func string(_ key: String) throws(QuantError) -> String {
      guard let value = try field(key).stringValue else { throw .invalidState("quant_state '\(key)' must be a string") }
      return value
    }
    func integer(_ key: String) throws(QuantError) -> Int {
      guard let value = try field(key).numberValue?.intValue else {
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
    guard let dimensions = try field("shape").elements else { throw .invalidState("quant_state 'shape' must be a list") }
    var shape: [Int] = []
    for dimension in dimensions {
      guard let value = dimension.numberValue?.intValue else { throw .invalidState("quant_state 'shape' must hold integers") }
      shape.append(value)
    }
    self.shape = shape
    if fields["nested_offset"] != nil {
      guard let number = try field("nested_offset").numberValue else {
        throw .invalidState("quant_state 'nested_offset' must be a number")
      }
      guard let offsetValue = number.doubleValue else { throw .invalidState("quant_state 'nested_offset' is not a number") }
      // torch.tensor(float) rounds the Python double to float32 (nearest even).
      nested = Nested(
        blocksize: try integer("nested_blocksize"), dtype: try dtypeField("nested_dtype"), offset: Float(offsetValue))
    } else {
      nested = nil
    }
  }
}
