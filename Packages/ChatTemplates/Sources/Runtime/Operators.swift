import Foundation

/// Python's arithmetic, comparison and slicing on template values.
enum Operators {
  /// `text * count`, within the render budget.
  private static func repeated(_ text: String, _ count: Int) throws -> JinjaValue {
    let count = max(0, count)
    try RenderBudget.checkRepetition(unit: text.utf8.count, count: count, limit: RenderBudget.maximumBytes)
    return .string(String(repeating: text, count: count))
  }

  static func binary(_ op: String, _ left: JinjaValue, _ right: JinjaValue) throws -> JinjaValue {
    if op == "~" { return .string(left.pythonString + right.pythonString) }
    try left.failIfUndefined()
    try right.failIfUndefined()
    switch (op, left, right) {
    case ("+", .string(let a), .string(let b)):
      try RenderBudget.check(bytes: a.utf8.count + b.utf8.count)
      return .string(a + b)
    case ("+", .array(let a), .array(let b)):
      try RenderBudget.checkRepetition(unit: 1, count: a.count + b.count, limit: RenderBudget.maximumElements)
      return .array(a + b)
    case ("*", .string(let text), _) where right.integer != nil:
      return try repeated(text, right.integer ?? 0)
    case ("*", _, .string(let text)) where left.integer != nil:
      return try repeated(text, left.integer ?? 0)
    case ("%", .string(let format), _): return .string(try PythonStrings.percentFormat(format, right))
    case ("*", .array(let items), _) where right.integer != nil:
      let count = max(0, right.integer ?? 0)
      try RenderBudget.checkRepetition(unit: items.count, count: count, limit: RenderBudget.maximumElements)
      return .array(Array(repeating: items, count: count).flatMap { $0 })
    default: break
    }
    if let a = left.integer, let b = right.integer { return try integerArithmetic(op, a, b) }
    guard let a = left.number, let b = right.number else {
      if op == "+", case .string = left {
        throw JinjaFailure("can only concatenate str (not \"\(right.typeName)\") to str")
      }
      throw JinjaFailure("unsupported operand type(s) for \(op): '\(left.typeName)' and '\(right.typeName)'")
    }
    switch op {
    case "+": return .double(a + b)
    case "-": return .double(a - b)
    case "*": return .double(a * b)
    case "/":
      guard b != 0 else { throw JinjaFailure("float division by zero") }
      return .double(a / b)
    case "//":
      guard b != 0 else { throw JinjaFailure("float floor division by zero") }
      return .double((a / b).rounded(.down))
    case "%":
      guard b != 0 else { throw JinjaFailure("float modulo") }
      let remainder = fmod(a, b)
      return .double(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
    case "**": return .double(pow(a, b))
    default: throw JinjaFailure("unknown operator \(op)")
    }
  }

  private static func integerArithmetic(_ op: String, _ a: Int, _ b: Int) throws -> JinjaValue {
    func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
      guard !result.overflow else { throw JinjaFailure("integer overflow") }
      return .int(result.partialValue)
    }
    switch op {
    case "+": return try checked(a.addingReportingOverflow(b))
    case "-": return try checked(a.subtractingReportingOverflow(b))
    case "*": return try checked(a.multipliedReportingOverflow(by: b))
    case "/":
      guard b != 0 else { throw JinjaFailure("division by zero") }
      return .double(Double(a) / Double(b))
    case "//", "%":
      guard b != 0 else { throw JinjaFailure(op == "//" ? "integer division or modulo by zero" : "integer modulo by zero") }
      var quotient = a / b
      var remainder = a % b
      if remainder != 0, (remainder < 0) != (b < 0) {
        quotient -= 1
        remainder += b
      }
      return .int(op == "//" ? quotient : remainder)
    case "**":
      if b < 0 { return .double(pow(Double(a), Double(b))) }
      var result = 1
      for _ in 0..<b {
        let (product, overflow) = result.multipliedReportingOverflow(by: a)
        guard !overflow else { throw JinjaFailure("integer overflow") }
        result = product
      }
      return .int(result)
    default: throw JinjaFailure("unknown operator \(op)")
    }
  }

  static func compare(_ op: String, _ left: JinjaValue, _ right: JinjaValue) throws -> Bool {
    switch op {
    case "==": return left.pythonEquals(right)
    case "!=": return !left.pythonEquals(right)
    case "in": return try contains(right, left)
    case "not in": return try !contains(right, left)
    default:
      try left.failIfUndefined()
      try right.failIfUndefined()
      let ordered: Bool?
      switch op {
      case "<": ordered = left.pythonLess(right)
      case ">": ordered = right.pythonLess(left)
      case "<=": ordered = right.pythonLess(left).map { !$0 }
      default: ordered = left.pythonLess(right).map { !$0 }
      }
      guard let ordered else {
        throw JinjaFailure("'\(op)' not supported between instances of '\(left.typeName)' and '\(right.typeName)'")
      }
      return ordered
    }
  }

  /// Python's `needle in container`.
  static func contains(_ container: JinjaValue, _ needle: JinjaValue) throws -> Bool {
    switch container {
    case .undefined: return false
    case .string(let text):
      guard case .string(let part) = needle else {
        throw JinjaFailure("'in <string>' requires string as left operand, not \(needle.typeName)")
      }
      return part.isEmpty || text.contains(part)
    case .array(let items): return items.contains { $0.pythonEquals(needle) }
    case .dictionary(let dictionary):
      guard case .string(let key) = needle else { return false }
      return dictionary[key] != nil
    default: throw JinjaFailure("argument of type '\(container.typeName)' is not iterable")
    }
  }

  /// Python slicing `value[start:stop:step]` of lists and strings.
  static func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws -> JinjaValue {
    func bound(_ value: JinjaValue?) throws -> Int? {
      guard let value, !isNone(value) else { return nil }
      guard let number = value.integer else { throw JinjaFailure("slice indices must be integers or None") }
      return number
    }
    let step = try bound(step) ?? 1
    guard step != 0 else { throw JinjaFailure("slice step cannot be zero") }
    let indices: (Int) -> [Int] = { count in
      let first = try? bound(start)
      let last = try? bound(stop)
      func clamp(_ index: Int?, _ fallback: Int, low: Int, high: Int) -> Int {
        guard let index else { return fallback }
        let resolved = index < 0 ? index + count : index
        return min(max(resolved, low), high)
      }
      if step > 0 {
        let from = clamp(first ?? nil, 0, low: 0, high: count)
        let to = clamp(last ?? nil, count, low: 0, high: count)
        return from < to ? Array(stride(from: from, to: to, by: step)) : []
      }
      let from = clamp(first ?? nil, count - 1, low: -1, high: count - 1)
      let to = clamp(last ?? nil, -1, low: -1, high: count - 1)
      return from > to ? Array(stride(from: from, to: to, by: step)) : []
    }
    switch value {
    case .array(let items): return .array(indices(items.count).map { items[$0] })
    case .string(let text):
      let scalars = Array(text.unicodeScalars)
      var result = String.UnicodeScalarView()
      for index in indices(scalars.count) { result.append(scalars[index]) }
      return .string(String(result))
    case .undefined(let hint): throw JinjaFailure(hint)
    default: throw JinjaFailure("'\(value.typeName)' object is not subscriptable")
    }
  }

  private static func isNone(_ value: JinjaValue) -> Bool {
    if case .none = value { return true }
    return false
  }
}
