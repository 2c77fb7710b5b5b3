/// Checks a parsed template before it runs: jinja2 rejects an unknown filter when it compiles the template, even
/// in a branch that never runs; and trees deeper than `maximumDepth` (long operator chains build them without
/// recursion in the parser) are refused so that rendering cannot exhaust the stack.
struct FilterCheck {
  let known: Set<String>
  let map: SourceMap
  static let maximumDepth = 128
  private var depth = 0

  init(known: Set<String>, map: SourceMap) {
    self.known = known
    self.map = map
  }

  mutating func check(_ nodes: [Node]) throws(ChatTemplateError) {
    for node in nodes { try check(node) }
  }

  private mutating func descend(_ offset: Int) throws(ChatTemplateError) {
    depth += 1
    guard depth <= Self.maximumDepth else {
      throw .syntax(message: "template nested more than \(Self.maximumDepth) levels deep", location: map.location(offset))
    }
  }

  private func fail(_ name: String, _ offset: Int) -> ChatTemplateError {
    .syntax(message: "No filter named '\(name)'.", location: map.location(offset))
  }

  private mutating func check(_ node: Node) throws(ChatTemplateError) {
    try descend(0)
    defer { depth -= 1 }
    switch node {
    case .text, .breakLoop, .continueLoop: return
    case .output(let expression): try check(expression)
    case .conditional(let branches, let otherwise):
      for branch in branches {
        try check(branch.condition)
        try check(branch.body)
      }
      try check(otherwise)
    case .loop(let loop):
      try check(loop.iterable)
      if let filter = loop.filter { try check(filter) }
      try check(loop.body)
      try check(loop.otherwise)
    case .assign(_, let expression, _): try check(expression)
    case .assignBlock(_, let filters, let body, _), .filterBlock(let filters, let body):
      for filter in filters where !known.contains(filter.name) { throw fail(filter.name, filter.offset) }
      for filter in filters { try check(filter.arguments) }
      try check(body)
    case .macro(let definition):
      for parameter in definition.parameters { if let value = parameter.defaultValue { try check(value) } }
      try check(definition.body)
    case .callBlock(let call, let parameters, let body):
      try check(call)
      for parameter in parameters { if let value = parameter.defaultValue { try check(value) } }
      try check(body)
    case .generation(let body): try check(body)
    }
  }

  private mutating func check(_ arguments: Expression.Arguments) throws(ChatTemplateError) {
    for argument in arguments.positional { try check(argument) }
    for keyword in arguments.keywords { try check(keyword.value) }
  }

  private mutating func check(_ expression: Expression) throws(ChatTemplateError) {
    try descend(expression.offset)
    defer { depth -= 1 }
    switch expression.kind {
    case .literal, .name: return
    case .list(let items), .tuple(let items):
      for item in items { try check(item) }
    case .dictionary(let pairs):
      for pair in pairs {
        try check(pair.key)
        try check(pair.value)
      }
    case .unary(_, let operand), .not(let operand), .attribute(let operand, _): try check(operand)
    case .binary(_, let lhs, let rhs), .and(let lhs, let rhs), .or(let lhs, let rhs), .item(let lhs, let rhs):
      try check(lhs)
      try check(rhs)
    case .compare(let first, let operations):
      try check(first)
      for operation in operations { try check(operation.rhs) }
    case .slice(let base, let start, let stop, let step):
      try check(base)
      for part in [start, stop, step] { if let part { try check(part) } }
    case .call(let callee, let arguments):
      try check(callee)
      try check(arguments)
    case .filter(let base, let name, let arguments):
      guard known.contains(name) else { throw fail(name, expression.offset) }
      try check(base)
      try check(arguments)
    case .test(let base, _, let arguments, _):
      try check(base)
      try check(arguments)
    case .conditional(let condition, let then, let otherwise):
      try check(condition)
      try check(then)
      if let otherwise { try check(otherwise) }
    }
  }
}
