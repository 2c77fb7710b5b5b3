/// Expressions, by jinja2's precedence: conditional, or, and, not, comparisons, `+ -`, `~`, `* / // %`, `**`,
/// unary, then postfix (attributes, subscripts, calls), filters and tests.
extension Parser {
  /// Comma-separated expressions: one expression, or a tuple.
  mutating func parseTuple(withConditional: Bool = true, extraEnd: Set<String> = []) throws(ChatTemplateError) -> Expression {
    let start = current.offset
    var items: [Expression] = []
    var sawComma = false
    while true {
      if !items.isEmpty {
        guard skipSymbol(",") else { break }
        sawComma = true
      }
      if isTupleEnd(extraEnd) { break }
      items.append(try parseExpression(withConditional: withConditional))
    }
    if !sawComma {
      guard let only = items.first else { throw error("Expected an expression, got \(current.display)") }
      return only
    }
    return Expression(kind: .tuple(items), offset: start)
  }

  private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
    switch current.kind {
    case .variableEnd, .blockEnd, .end: return true
    case .symbol(let symbol): return symbol == ")"
    case .name(let name): return extraEnd.contains(name)
    default: return false
    }
  }

  mutating func parseExpression(withConditional: Bool = true) throws(ChatTemplateError) -> Expression {
    guard expressionDepth < Self.maximumDepth else { throw error("expression nested more than \(Self.maximumDepth) deep") }
    expressionDepth += 1
    defer { expressionDepth -= 1 }
    return withConditional ? try parseConditional() : try parseOr()
  }

  mutating func parseConditional() throws(ChatTemplateError) -> Expression {
    var expression = try parseOr()
    while skipName("if") {
      let condition = try parseOr()
      let otherwise = skipName("else") ? try parseExpression() : nil
      expression = Expression(
        kind: .conditional(condition: condition, then: expression, otherwise: otherwise), offset: expression.offset)
    }
    return expression
  }

  mutating func parseOr() throws(ChatTemplateError) -> Expression {
    var left = try parseAnd()
    while skipName("or") { left = Expression(kind: .or(left, try parseAnd()), offset: left.offset) }
    return left
  }

  mutating func parseAnd() throws(ChatTemplateError) -> Expression {
    var left = try parseNot()
    while skipName("and") { left = Expression(kind: .and(left, try parseNot()), offset: left.offset) }
    return left
  }

  mutating func parseNot() throws(ChatTemplateError) -> Expression {
    let offset = current.offset
    if skipName("not") {
      guard expressionDepth < Self.maximumDepth else { throw error("expression nested more than \(Self.maximumDepth) deep") }
      expressionDepth += 1
      defer { expressionDepth -= 1 }
      return Expression(kind: .not(try parseNot()), offset: offset)
    }
    return try parseCompare()
  }

  mutating func parseCompare() throws(ChatTemplateError) -> Expression {
    let left = try parseAdditive()
    var operations: [(op: String, rhs: Expression)] = []
    while true {
      if case .symbol(let symbol) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(symbol) {
        _ = advance()
        operations.append((symbol, try parseAdditive()))
      } else if skipName("in") {
        operations.append(("in", try parseAdditive()))
      } else if isName("not"), isName("in", peek()) {
        _ = advance()
        _ = advance()
        operations.append(("not in", try parseAdditive()))
      } else {
        break
      }
    }
    return operations.isEmpty ? left : Expression(kind: .compare(left, operations), offset: left.offset)
  }

  mutating func parseAdditive() throws(ChatTemplateError) -> Expression {
    var left = try parseConcat()
    while case .symbol(let symbol) = current.kind, symbol == "+" || symbol == "-" {
      _ = advance()
      left = Expression(kind: .binary(symbol, left, try parseConcat()), offset: left.offset)
    }
    return left
  }

  mutating func parseConcat() throws(ChatTemplateError) -> Expression {
    var left = try parseMultiplicative()
    while skipSymbol("~") { left = Expression(kind: .binary("~", left, try parseMultiplicative()), offset: left.offset) }
    return left
  }

  mutating func parseMultiplicative() throws(ChatTemplateError) -> Expression {
    var left = try parsePower()
    while case .symbol(let symbol) = current.kind, ["*", "/", "//", "%"].contains(symbol) {
      _ = advance()
      left = Expression(kind: .binary(symbol, left, try parsePower()), offset: left.offset)
    }
    return left
  }

  mutating func parsePower() throws(ChatTemplateError) -> Expression {
    var left = try parseUnary()
    while skipSymbol("**") { left = Expression(kind: .binary("**", left, try parseUnary()), offset: left.offset) }
    return left
  }

  mutating func parseUnary(withFilter: Bool = true) throws(ChatTemplateError) -> Expression {
    guard expressionDepth < Self.maximumDepth else { throw error("expression nested more than \(Self.maximumDepth) deep") }
    expressionDepth += 1
    defer { expressionDepth -= 1 }
    let offset = current.offset
    var expression: Expression
    if case .symbol(let symbol) = current.kind, symbol == "-" || symbol == "+" {
      _ = advance()
      expression = Expression(kind: .unary(symbol, try parseUnary(withFilter: false)), offset: offset)
    } else {
      expression = try parsePrimary()
    }
    expression = try parsePostfix(expression)
    return withFilter ? try parseFilterExpression(expression) : expression
  }

  mutating func parsePrimary() throws(ChatTemplateError) -> Expression {
    let token = current
    switch token.kind {
    case .name(let name):
      _ = advance()
      switch name {
      case "true", "True": return Expression(kind: .literal(.bool(true)), offset: token.offset)
      case "false", "False": return Expression(kind: .literal(.bool(false)), offset: token.offset)
      case "none", "None": return Expression(kind: .literal(.none), offset: token.offset)
      default: return Expression(kind: .name(name), offset: token.offset)
      }
    case .string(var value):
      _ = advance()
      while case .string(let next) = current.kind {
        value += next
        _ = advance()
      }
      return Expression(kind: .literal(.string(value)), offset: token.offset)
    case .integer(let value):
      _ = advance()
      return Expression(kind: .literal(.int(value)), offset: token.offset)
    case .float(let value):
      _ = advance()
      return Expression(kind: .literal(.double(value)), offset: token.offset)
    case .symbol("("):
      _ = advance()
      if skipSymbol(")") { return Expression(kind: .tuple([]), offset: token.offset) }
      guard expressionDepth < Self.maximumDepth else { throw error("expression nested more than \(Self.maximumDepth) deep") }
      expressionDepth += 1
      defer { expressionDepth -= 1 }
      let inner = try parseTuple()
      try expectSymbol(")")
      return inner
    case .symbol("["):
      _ = advance()
      var items: [Expression] = []
      while !isSymbol("]") {
        if !items.isEmpty { try expectSymbol(",") }
        if isSymbol("]") { break }
        items.append(try parseExpression())
      }
      try expectSymbol("]")
      return Expression(kind: .list(items), offset: token.offset)
    case .symbol("{"):
      _ = advance()
      var pairs: [(key: Expression, value: Expression)] = []
      while !isSymbol("}") {
        if !pairs.isEmpty { try expectSymbol(",") }
        if isSymbol("}") { break }
        let key = try parseExpression()
        try expectSymbol(":")
        pairs.append((key, try parseExpression()))
      }
      try expectSymbol("}")
      return Expression(kind: .dictionary(pairs), offset: token.offset)
    default:
      throw error("unexpected \(token.display)")
    }
  }

  mutating func parsePostfix(_ base: Expression) throws(ChatTemplateError) -> Expression {
    var expression = base
    while true {
      if isSymbol(".") {
        _ = advance()
        let token = advance()
        switch token.kind {
        case .name(let name): expression = Expression(kind: .attribute(expression, name), offset: expression.offset)
        case .integer(let value):
          expression = Expression(
            kind: .item(expression, Expression(kind: .literal(.int(value)), offset: token.offset)), offset: expression.offset)
        default: throw error("expected name or number", at: token)
        }
      } else if isSymbol("[") {
        _ = advance()
        expression = try parseSubscript(expression)
      } else if isSymbol("(") {
        expression = Expression(kind: .call(expression, try parseCallArguments()), offset: expression.offset)
      } else {
        return expression
      }
    }
  }

  private mutating func parseSubscript(_ base: Expression) throws(ChatTemplateError) -> Expression {
    var parts: [Expression?] = [nil]
    var colons = 0
    let start = current.offset
    while !isSymbol("]") {
      if skipSymbol(":") {
        colons += 1
        guard colons <= 2 else { throw error("unexpected ':'") }
        parts.append(nil)
        continue
      }
      guard parts[colons] == nil else { throw error("expected token ']', got \(current.display)") }
      parts[colons] = try parseExpression()
    }
    try expectSymbol("]")
    if colons == 0 {
      guard let key = parts[0] else { throw error("expected an expression in subscript") }
      return Expression(kind: .item(base, key), offset: base.offset)
    }
    _ = start
    return Expression(
      kind: .slice(base, start: parts[0], stop: parts[1], step: colons == 2 ? parts[2] : nil), offset: base.offset)
  }

  mutating func parseCallArguments() throws(ChatTemplateError) -> Expression.Arguments {
    try expectSymbol("(")
    var arguments = Expression.Arguments()
    while !isSymbol(")") {
      if !arguments.positional.isEmpty || !arguments.keywords.isEmpty { try expectSymbol(",") }
      if isSymbol(")") { break }
      if case .name(let name) = current.kind, isSymbol("=", peek()) {
        _ = advance()
        _ = advance()
        arguments.keywords.append((name, try parseExpression()))
      } else {
        if !arguments.keywords.isEmpty { throw error("positional argument follows keyword argument") }
        arguments.positional.append(try parseExpression())
      }
    }
    try expectSymbol(")")
    return arguments
  }

  mutating func parseFilterExpression(_ base: Expression) throws(ChatTemplateError) -> Expression {
    var expression = base
    while true {
      if skipSymbol("|") {
        let name = try parseDottedName()
        let arguments = isSymbol("(") ? try parseCallArguments() : Expression.Arguments()
        expression = Expression(kind: .filter(expression, name: name, arguments), offset: expression.offset)
      } else if skipName("is") {
        let negated = skipName("not")
        let name = try parseDottedName()
        var arguments = Expression.Arguments()
        if isSymbol("(") {
          arguments = try parseCallArguments()
        } else if startsTestArgument() {
          arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        expression = Expression(kind: .test(expression, name: name, arguments, negated: negated), offset: expression.offset)
      } else if isSymbol("(") {
        expression = Expression(kind: .call(expression, try parseCallArguments()), offset: expression.offset)
      } else {
        return expression
      }
    }
  }

  private func startsTestArgument() -> Bool {
    switch current.kind {
    case .name(let name): return !["else", "or", "and", "if", "in", "not", "is"].contains(name)
    case .string, .integer, .float: return true
    case .symbol(let symbol): return symbol == "[" || symbol == "{"
    default: return false
    }
  }
}
