/// The element types a tensor can hold.
///
/// The raw value is the name torch gives the dtype without its `torch.` prefix (`"bfloat16"`,
/// `"float8_e4m3fn"`); it is what bitsandbytes writes into its JSON quant state.
public enum DType: String, Sendable, CaseIterable, Codable, CustomStringConvertible {
  case float64
  case float32
  case float16
  case bfloat16
  case float8E4M3 = "float8_e4m3fn"
  case float8E5M2 = "float8_e5m2"
  case int64
  case int32
  case int16
  case int8
  case uint64
  case uint32
  case uint16
  case uint8
  case bool

  /// Bytes per element.
  public var byteSize: Int {
    switch self {
    case .float64, .int64, .uint64: 8
    case .float32, .int32, .uint32: 4
    case .float16, .bfloat16, .int16, .uint16: 2
    case .float8E4M3, .float8E5M2, .int8, .uint8, .bool: 1
    }
  }

  /// Whether the type holds floating-point values (fp8 included).
  public var isFloatingPoint: Bool {
    switch self {
    case .float64, .float32, .float16, .bfloat16, .float8E4M3, .float8E5M2: true
    default: false
    }
  }

  /// The dtype name used in safetensors headers (`"F32"`, `"BF16"`, `"F8_E4M3"`).
  public var safetensorsName: String {
    switch self {
    case .float64: "F64"
    case .float32: "F32"
    case .float16: "F16"
    case .bfloat16: "BF16"
    case .float8E4M3: "F8_E4M3"
    case .float8E5M2: "F8_E5M2"
    case .int64: "I64"
    case .int32: "I32"
    case .int16: "I16"
    case .int8: "I8"
    case .uint64: "U64"
    case .uint32: "U32"
    case .uint16: "U16"
    case .uint8: "U8"
    case .bool: "BOOL"
    }
  }

  /// Creates a dtype from its safetensors header name, or returns `nil` for an unknown name.
  ///
  /// - Parameter safetensorsName: A name such as `"F16"` or `"F8_E5M2"`.
  public init?(safetensorsName: String) {
    guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else {
      return nil
    }
    self = match
  }

  /// Creates a dtype from a torch-style name (`"float16"`, `"torch.bfloat16"`, `"half"`, `"bf16"`).
  ///
  /// - Parameter torchName: The name as transformers or bitsandbytes write it.
  public init?(torchName: String) {
    var name = torchName
    if name.hasPrefix("torch.") { name.removeFirst("torch.".count) }
    switch name {
    case "half", "fp16": self = .float16
    case "float", "fp32": self = .float32
    case "double": self = .float64
    case "bf16": self = .bfloat16
    case "long": self = .int64
    case "int": self = .int32
    default:
      guard let match = DType(rawValue: name) else { return nil }
      self = match
    }
  }

  /// The torch-style name, e.g. `"bfloat16"`.
  public var description: String { rawValue }
}
