/// A configuration or JSON value: what YAML files, format parameters and `config.json` blocks hold.
public enum ConfigValue: Sendable, Equatable, Hashable, CustomStringConvertible {
  /// `null` / `~`.
  case null
  /// `true` / `false`.
  case bool(Bool)
  /// An integer.
  case int(Int)
  /// A non-integer number.
  case double(Double)
  /// A string.
  case string(String)
  /// A list.
  case array([ConfigValue])
  /// A mapping with string keys, in document order.
  case object([(key: String, value: ConfigValue)])

  /// Structural equality (mappings compare in order).
  public static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
    switch (lhs, rhs) {
    case (.null, .null): true
    case (.bool(let a), .bool(let b)): a == b
    case (.int(let a), .int(let b)): a == b
    case (.double(let a), .double(let b)): a == b
    case (.string(let a), .string(let b)): a == b
    case (.array(let a), .array(let b)): a == b
    case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    default: false
    }
  }

  /// Hashes the value's rendering.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(description)
  }

  /// The value as an integer (also accepts a double with no fraction).
  public var intValue: Int? {
    switch self {
    case .int(let value): value
    case .double(let value) where value.rounded() == value && abs(value) < 1e15: Int(value)
    default: nil
    }
  }

  /// The value as a number.
  public var doubleValue: Double? {
    switch self {
    case .int(let value): Double(value)
    case .double(let value): value
    default: nil
    }
  }

  /// The value as a boolean.
  public var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }
  /// The value as a string.
  public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
  /// The value as a list.
  public var arrayValue: [ConfigValue]? { if case .array(let value) = self { value } else { nil } }

  /// Looks up `key` in a mapping.
  public subscript(key: String) -> ConfigValue? {
    guard case .object(let pairs) = self else { return nil }
    return pairs.first { $0.key == key }?.value
  }

  /// A name for the kind of value, used in error messages (`"a string"`).
  public var kindName: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .int: "an integer"
    case .double: "a number"
    case .string: "a string"
    case .array: "a list"
    case .object: "a mapping"
    }
  }

  /// The value in JSON-like notation.
  public var description: String {
    switch self {
    case .null: "null"
    case .bool(let value): String(value)
    case .int(let value): String(value)
    case .double(let value): String(value)
    case .string(let value): "\"\(value)\""
    case .array(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
    case .object(let pairs): "{" + pairs.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
    }
  }
}
