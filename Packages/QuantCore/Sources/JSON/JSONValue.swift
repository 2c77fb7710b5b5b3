/// A JSON value that keeps what the text said: member order, and each number's literal.
///
/// Safetensors headers, `config.json`, `model.safetensors.index.json` and bitsandbytes' packed quant
/// states are read and written through this type. Keeping number literals lets a rewritten
/// `config.json` print every untouched number exactly as Python printed it (`1e-06`, `0.0`, `10000.0`),
/// which is why it is not ``ConfigValue`` (whose numbers are `Int` or `Double`).
package enum JSONValue: Sendable, Equatable {
  /// `null`.
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// A number, as its JSON literal.
  case number(JSONNumber)
  /// A string.
  case string(String)
  /// An array.
  case array([JSONValue])
  /// An object, members in document order.
  case object([JSONMember])

  /// The members of an object, or `nil`.
  package var members: [JSONMember]? { if case .object(let members) = self { members } else { nil } }
  /// The elements of an array, or `nil`.
  package var elements: [JSONValue]? { if case .array(let elements) = self { elements } else { nil } }
  /// The string, or `nil`.
  package var stringValue: String? { if case .string(let value) = self { value } else { nil } }
  /// The boolean, or `nil`.
  package var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }
  /// The number, or `nil`.
  package var numberValue: JSONNumber? { if case .number(let value) = self { value } else { nil } }
  /// Whether the value is `null`.
  package var isNull: Bool { if case .null = self { true } else { false } }

  /// The value of member `key` of an object (the last one if repeated), or `nil`.
  package subscript(key: String) -> JSONValue? {
    members?.last { $0.key == key }?.value
  }

  /// A name for the kind of value, for messages.
  package var kindName: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .number: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
  }

  /// Sets member `key` of an object: replaces it in place when present, else appends it.
  ///
  /// - Parameters:
  ///   - value: The new value.
  ///   - key: The member name.
  package mutating func setMember(_ key: String, to value: JSONValue) {
    guard case .object(var members) = self else { return }
    if let index = members.firstIndex(where: { $0.key == key }) {
      members[index].value = value
    } else {
      members.append(JSONMember(key: key, value: value))
    }
    self = .object(members)
  }
}

/// One member of a JSON object.
package struct JSONMember: Sendable, Equatable {
  /// The member name.
  package var key: String
  /// The member value.
  package var value: JSONValue

  /// Creates a member.
  package init(key: String, value: JSONValue) {
    self.key = key
    self.value = value
  }
}

/// A JSON number kept as its literal text, with exact integer and double readings.
package struct JSONNumber: Sendable, Equatable {
  /// The literal as written (`"6.0"`, `"1e-06"`, `"42"`).
  package var literal: String

  /// Wraps a literal that is known to be a valid JSON number.
  package init(literal: String) { self.literal = literal }

  /// An integer number.
  package init(_ value: Int) { literal = String(value) }

  /// A float, printed as Python's `json.dumps` prints it (`6.0`, `1e-06`, `1e+16`, `NaN`).
  package init(_ value: Double) { literal = PythonFloatRepr.json(value) }

  /// Whether the literal is an integer: digits only, no fraction or exponent part (and not `NaN` or
  /// `Infinity`).
  package var isInteger: Bool { literal.allSatisfy { $0 == "-" || ("0"..."9").contains($0) } }

  /// The value as a non-negative integer that fits `UInt64`, or `nil`.
  package var uint64Value: UInt64? { isInteger ? UInt64(literal) : nil }

  /// The value as an `Int`, or `nil` (integers only).
  package var intValue: Int? { isInteger ? Int(literal) : nil }

  /// The value as a `Double` (integers included).
  package var doubleValue: Double? { Double(literal) }
}
