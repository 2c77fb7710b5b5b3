/// jinja2's tests: `value is defined`, `is string`, `is divisibleby 3`, ...
extension Interpreter {
  static let testNames: Set = [
    "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence", "boolean",
    "true", "false", "odd", "even", "divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt",
    "greaterthan", ">", "ge", ">=", "in", "callable", "lower", "upper", "sameas", "escaped", "filter", "test",
  ]

  func applyTest(_ name: String, to value: JinjaValue, _ arguments: JinjaCallable.Arguments) throws -> Bool {
    let argument = arguments.positional.first ?? .none
    switch name {
    case "defined": return !value.isUndefined
    case "undefined": return value.isUndefined
    case "none":
      if case .none = value { return true }
      return false
    case "string":
      if case .string = value { return true }
      return false
    case "number":
      return value.number != nil
    case "integer":
      if case .int = value { return true }
      return false
    case "float":
      if case .double = value { return true }
      return false
    case "boolean":
      if case .bool = value { return true }
      return false
    case "true":
      if case .bool(true) = value { return true }
      return false
    case "false":
      if case .bool(false) = value { return true }
      return false
    case "mapping":
      if case .dictionary = value { return true }
      return false
    case "iterable":
      switch value {
      case .undefined, .string, .array, .dictionary: return true
      default: return false
      }
    case "sequence":
      switch value {
      case .undefined, .string, .array, .dictionary: return true
      default: return false
      }
    case "callable":
      if case .callable = value { return true }
      return false
    case "odd", "even":
      try value.failIfUndefined()
      guard let number = value.integer else { throw JinjaFailure("not all arguments converted during string formatting") }
      return (abs(number) % 2 == 1) == (name == "odd")
    case "divisibleby":
      try value.failIfUndefined()
      return try Operators.binary("%", value, argument).pythonEquals(.int(0))
    case "eq", "equalto", "==": return try Operators.compare("==", value, argument)
    case "ne", "!=": return try Operators.compare("!=", value, argument)
    case "lt", "lessthan", "<": return try Operators.compare("<", value, argument)
    case "le", "<=": return try Operators.compare("<=", value, argument)
    case "gt", "greaterthan", ">": return try Operators.compare(">", value, argument)
    case "ge", ">=": return try Operators.compare(">=", value, argument)
    case "in": return try Operators.contains(argument, value)
    case "lower", "upper":
      guard case .string(let text) = value else { return false }
      return name == "lower" ? text == text.lowercased() : text == text.uppercased()
    case "sameas":
      switch (value, argument) {
      case (.none, .none), (.undefined, .undefined): return true
      case (.bool(let a), .bool(let b)): return a == b
      case (.namespace(let a), .namespace(let b)): return a === b
      default: return false
      }
    case "escaped": return false
    case "filter":
      guard case .string(let text) = value else { return false }
      return Self.filterNames.contains(text)
    case "test":
      guard case .string(let text) = value else { return false }
      return Self.testNames.contains(text)
    default: throw JinjaFailure("No test named '\(name)' found.")
    }
  }
}
