extension ConfigValue {
  /// The value as JSON (floats printed as Python prints them).
  package var jsonValue: JSONValue {
    switch self {
    case .null: .null
    case .bool(let value): .bool(value)
    case .int(let value): .number(JSONNumber(value))
    case .double(let value): .number(JSONNumber(value))
    case .string(let value): .string(value)
    case .array(let values): .array(values.map(\.jsonValue))
    case .object(let pairs): .object(pairs.map { JSONMember(key: $0.key, value: $0.value.jsonValue) })
    }
  }
}

extension JSONValue {
  /// The value as a configuration value.
  package var configValue: ConfigValue {
    switch self {
    case .null: .null
    case .bool(let value): .bool(value)
    case .number(let number):
      if number.isInteger, let int = number.intValue { .int(int) } else { .double(number.doubleValue ?? .nan) }
    case .string(let value): .string(value)
    case .array(let values): .array(values.map(\.configValue))
    case .object(let members): .object(members.map { (key: $0.key, value: $0.value.configValue) })
    }
  }
}
