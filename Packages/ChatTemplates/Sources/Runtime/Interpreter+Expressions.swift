/// Expression evaluation with jinja2's semantics for undefined values.
extension Interpreter {
  func evaluate(_ expression: Expression, scope: Scope) throws -> JinjaValue {
    try at(expression.offset) { try evaluateKind(expression, scope: scope) }
  }

  func evaluate(_ arguments: Expression.Arguments, scope: Scope) throws -> JinjaCallable.Arguments {
    JinjaCallable.Arguments(
      positional: try arguments.positional.map { try evaluate($0, scope: scope) },
      keywords: try arguments.keywords.map { ($0.name, try evaluate($0.value, scope: scope)) })
  }

  private func evaluateKind(_ expression: Expression, scope: Scope) throws -> JinjaValue {
    switch expression.kind {
    case .literal(let value):
      return value
    case .name(let name):
      return scope.lookup(name) ?? .undefined(hint: "'\(name)' is undefined")
    case .list(let items), .tuple(let items):
      return .array(try items.map { try evaluate($0, scope: scope) })
    case .dictionary(let pairs):
      var dictionary = JinjaDictionary()
      for pair in pairs {
        let key = try evaluate(pair.key, scope: scope)
        guard case .string(let name) = key else {
          throw JinjaFailure("dictionary keys must be strings here, got \(key.typeName)")
        }
        dictionary[name] = try evaluate(pair.value, scope: scope)
      }
      return .dictionary(dictionary)
    case .unary(let op, let operand):
      let value = try evaluate(operand, scope: scope)
      try value.failIfUndefined()
      if case .int(let number) = value { return .int(op == "-" ? -number : number) }
      if case .bool(let flag) = value { return .int(op == "-" ? (flag ? -1 : 0) : (flag ? 1 : 0)) }
      if case .double(let number) = value { return .double(op == "-" ? -number : number) }
      throw JinjaFailure("bad operand type for unary \(op): '\(value.typeName)'")
    case .binary(let op, let lhs, let rhs):
      let left = try evaluate(lhs, scope: scope)
      let right = try evaluate(rhs, scope: scope)
      return try Operators.binary(op, left, right)
    case .and(let lhs, let rhs):
      let left = try evaluate(lhs, scope: scope)
      return left.isTruthy ? try evaluate(rhs, scope: scope) : left
    case .or(let lhs, let rhs):
      let left = try evaluate(lhs, scope: scope)
      return left.isTruthy ? left : try evaluate(rhs, scope: scope)
    case .not(let operand):
      return .bool(!(try evaluate(operand, scope: scope).isTruthy))
    case .compare(let first, let operations):
      var left = try evaluate(first, scope: scope)
      for operation in operations {
        let right = try evaluate(operation.rhs, scope: scope)
        guard try Operators.compare(operation.op, left, right) else { return .bool(false) }
        left = right
      }
      return .bool(true)
    case .attribute(let base, let name):
      return try attribute(name, of: try evaluate(base, scope: scope))
    case .item(let base, let key):
      let container = try evaluate(base, scope: scope)
      return try item(try evaluate(key, scope: scope), of: container)
    case .slice(let base, let start, let stop, let step):
      let container = try evaluate(base, scope: scope)
      return try Operators.slice(
        container, start: try start.map { try evaluate($0, scope: scope) }, stop: try stop.map { try evaluate($0, scope: scope) },
        step: try step.map { try evaluate($0, scope: scope) })
    case .call(let callee, let arguments):
      return try evaluateCall(callee, arguments, scope: scope, extra: [], offset: expression.offset)
    case .filter(let base, let name, let arguments):
      let value = try evaluate(base, scope: scope)
      return try applyFilter(name, to: value, try evaluate(arguments, scope: scope))
    case .test(let base, let name, let arguments, let negated):
      let value = try evaluate(base, scope: scope)
      let result = try applyTest(name, to: value, try evaluate(arguments, scope: scope))
      return .bool(result != negated)
    case .conditional(let condition, let then, let otherwise):
      if try evaluate(condition, scope: scope).isTruthy { return try evaluate(then, scope: scope) }
      guard let otherwise else {
        return .undefined(
          hint:
            "the inline if-expression on line \(location(expression.offset).line) evaluated to false and no else section was defined."
        )
      }
      return try evaluate(otherwise, scope: scope)
    }
  }

  func evaluateCall(
    _ callee: Expression, _ arguments: Expression.Arguments, scope: Scope, extra: [(name: String, value: JinjaValue)], offset: Int
  ) throws -> JinjaValue {
    let function = try evaluate(callee, scope: scope)
    var values = try evaluate(arguments, scope: scope)
    values.keywords += extra
    return try at(offset) { try call(function, values) }
  }

  func call(_ function: JinjaValue, _ arguments: JinjaCallable.Arguments) throws -> JinjaValue {
    switch function {
    case .callable(let callable): return try callable.body(arguments)
    case .undefined(let hint): throw JinjaFailure(hint)
    default: throw JinjaFailure("'\(function.typeName)' object is not callable")
    }
  }

  /// `value.name`: jinja2 tries the Python attribute (a method) first, then the dictionary key.
  func attribute(_ name: String, of value: JinjaValue) throws -> JinjaValue {
    switch value {
    case .undefined(let hint): throw JinjaFailure(hint)
    case .namespace(let namespace):
      return namespace.attributes[name] ?? .undefined(hint: "'Namespace' object has no attribute '\(name)'")
    case .dictionary(let dictionary):
      if let method = try Methods.method(name, of: value) { return method }
      return dictionary[name] ?? .undefined(hint: "'dict object' has no attribute '\(name)'")
    default:
      if let method = try Methods.method(name, of: value) { return method }
      return .undefined(hint: "\(value.objectTypeRepr.quotedIfNotNone) has no attribute '\(name)'")
    }
  }

  /// `value[key]`: jinja2 tries the item first, then a Python attribute named by a string key.
  func item(_ key: JinjaValue, of value: JinjaValue) throws -> JinjaValue {
    switch (value, key) {
    case (.undefined(let hint), _): throw JinjaFailure(hint)
    case (.dictionary(let dictionary), .string(let name)):
      if let found = dictionary[name] { return found }
      return try Methods.method(name, of: value) ?? .undefined(hint: "'dict object' has no attribute '\(name)'")
    case (.array(let items), _):
      guard let index = key.integer else {
        if case .string(let name) = key, let method = try Methods.method(name, of: value) { return method }
        throw JinjaFailure("list indices must be integers or slices, not \(key.typeName)")
      }
      let resolved = index < 0 ? items.count + index : index
      guard items.indices.contains(resolved) else { return .undefined(hint: "list object has no element \(index)") }
      return items[resolved]
    case (.string(let text), _):
      guard let index = key.integer else {
        if case .string(let name) = key, let method = try Methods.method(name, of: value) { return method }
        throw JinjaFailure("string indices must be integers, not '\(key.typeName)'")
      }
      let scalars = Array(text.unicodeScalars)
      let resolved = index < 0 ? scalars.count + index : index
      guard scalars.indices.contains(resolved) else { return .undefined(hint: "str object has no element \(index)") }
      return .string(String(scalars[resolved]))
    case (.namespace, .string(let name)):
      return try attribute(name, of: value)
    default:
      if case .string(let name) = key { return try attribute(name, of: value) }
      return .undefined(hint: "\(value.objectTypeRepr) has no element \(key.pythonRepr)")
    }
  }

  /// The items a `for` loop (or a filter) walks: list elements, dictionary keys, string characters.
  func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
    switch value {
    case .undefined: return []
    case .array(let items): return items
    case .dictionary(let dictionary): return dictionary.keys.map { .string($0) }
    case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
    default: throw JinjaFailure("'\(value.typeName)' object is not iterable")
    }
  }
}

extension JinjaValue {
  /// jinja2's `object_type_repr`: `None`, or `dict object`.
  var objectTypeRepr: String {
    if case .none = self { return "None" }
    return "\(typeName) object"
  }

  /// Throws the undefined value's error, as jinja2's default `Undefined` does on arithmetic and calls.
  func failIfUndefined() throws {
    if case .undefined(let hint) = self { throw JinjaFailure(hint) }
  }
}

extension String {
  fileprivate var quotedIfNotNone: String { "'\(self)'" }
}
