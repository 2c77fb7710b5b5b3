/// Builds the statement tree from tokens, following jinja2's grammar for the tags chat templates use.
struct Parser {
  var tokens: [Token]
  var index = 0
  let map: SourceMap
  /// The block tags still open, innermost last, for "missing endfor" messages.
  var openBlocks: [String] = []
  /// How deeply expressions nest right now; bounded so hostile input cannot exhaust the stack.
  var expressionDepth = 0
  static let maximumDepth = 64

  init(tokens: [Token], map: SourceMap) {
    self.tokens = tokens
    self.map = map
  }

  var current: Token { tokens[index] }
  func peek(_ distance: Int = 1) -> Token { tokens[min(index + distance, tokens.count - 1)] }

  mutating func advance() -> Token {
    let token = tokens[index]
    if index < tokens.count - 1 { index += 1 }
    return token
  }

  func error(_ message: String, at token: Token? = nil) -> ChatTemplateError {
    .syntax(message: message, location: map.location((token ?? current).offset))
  }

  func isName(_ name: String, _ token: Token? = nil) -> Bool {
    if case .name(let value) = (token ?? current).kind { return value == name }
    return false
  }

  func isSymbol(_ symbol: String, _ token: Token? = nil) -> Bool {
    if case .symbol(let value) = (token ?? current).kind { return value == symbol }
    return false
  }

  mutating func skipName(_ name: String) -> Bool {
    guard isName(name) else { return false }
    _ = advance()
    return true
  }

  mutating func skipSymbol(_ symbol: String) -> Bool {
    guard isSymbol(symbol) else { return false }
    _ = advance()
    return true
  }

  mutating func expectSymbol(_ symbol: String) throws(ChatTemplateError) {
    guard skipSymbol(symbol) else { throw error("expected token '\(symbol)', got \(current.display)") }
  }

  mutating func expectName() throws(ChatTemplateError) -> String {
    guard case .name(let name) = current.kind else { throw error("expected name, got \(current.display)") }
    _ = advance()
    return name
  }

  mutating func expectBlockEnd() throws(ChatTemplateError) {
    guard current.kind == .blockEnd else { throw error("expected token 'end of statement block', got \(current.display)") }
    _ = advance()
  }

  // MARK: - Statements

  /// Parses the whole template.
  mutating func parseTemplate() throws(ChatTemplateError) -> [Node] {
    let (nodes, _) = try parseBody(until: [])
    return nodes
  }

  /// Parses statements until a block tag named in `endTags` (left unconsumed, returned) or the end.
  mutating func parseBody(until endTags: Set<String>) throws(ChatTemplateError) -> ([Node], String?) {
    var nodes: [Node] = []
    while true {
      let token = current
      switch token.kind {
      case .text(let text):
        _ = advance()
        nodes.append(.text(text))
      case .variableBegin:
        _ = advance()
        let expression = try parseTuple()
        guard current.kind == .variableEnd else { throw error("expected token 'end of print statement', got \(current.display)") }
        _ = advance()
        nodes.append(.output(expression))
      case .blockBegin:
        _ = advance()
        if case .name(let name) = current.kind, endTags.contains(name) { return (nodes, name) }
        nodes.append(try parseStatement())
      case .end:
        if let innermost = openBlocks.last {
          let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
          throw error(
            "Unexpected end of template. Jinja was looking for the following tags: \(expected). "
              + "The innermost block that needs to be closed is '\(innermost)'.")
        }
        return (nodes, nil)
      default:
        throw error("unexpected \(token.display)")
      }
    }
  }

  /// Parses a body that must end with one of `endTags`; consumes the end tag's name.
  mutating func parseBlockBody(_ tag: String, until endTags: Set<String>) throws(ChatTemplateError) -> ([Node], String) {
    guard openBlocks.count < Self.maximumDepth else { throw error("blocks nested more than \(Self.maximumDepth) deep") }
    openBlocks.append(tag)
    defer { openBlocks.removeLast() }
    let (nodes, end) = try parseBody(until: endTags)
    _ = advance()
    return (nodes, end ?? "")
  }

  mutating func parseStatement() throws(ChatTemplateError) -> Node {
    let token = current
    guard case .name(let keyword) = token.kind else { throw error("tag name expected") }
    _ = advance()
    switch keyword {
    case "if": return try parseIf()
    case "for": return try parseFor(offset: token.offset)
    case "set": return try parseSet(offset: token.offset)
    case "macro": return try parseMacro()
    case "call": return try parseCallBlock()
    case "filter":
      let filters = try parseFilterChain()
      try expectBlockEnd()
      let (body, _) = try parseBlockBody("filter", until: ["endfilter"])
      try expectBlockEnd()
      return .filterBlock(filters: filters, body: body)
    case "break", "continue":
      try expectBlockEnd()
      return keyword == "break" ? .breakLoop : .continueLoop
    case "generation":
      try expectBlockEnd()
      let (body, _) = try parseBlockBody("generation", until: ["endgeneration"])
      try expectBlockEnd()
      return .generation(body)
    default:
      throw error("Encountered unknown tag '\(keyword)'.", at: token)
    }
  }

  mutating func parseIf() throws(ChatTemplateError) -> Node {
    var branches: [(condition: Expression, body: [Node])] = []
    var otherwise: [Node] = []
    while true {
      let condition = try parseTuple(withConditional: false)
      try expectBlockEnd()
      let (body, end) = try parseBlockBody("if", until: ["elif", "else", "endif"])
      branches.append((condition, body))
      if end == "elif" { continue }
      if end == "else" {
        try expectBlockEnd()
        (otherwise, _) = try parseBlockBody("if", until: ["endif"])
      }
      try expectBlockEnd()
      return .conditional(branches: branches, otherwise: otherwise)
    }
  }

  mutating func parseFor(offset: Int) throws(ChatTemplateError) -> Node {
    let target = try parseAssignTarget(allowNamespace: false)
    guard skipName("in") else { throw error("expected token 'in', got \(current.display)") }
    let iterable = try parseTuple(withConditional: false, extraEnd: ["recursive"])
    let filter = skipName("if") ? try parseExpression() : nil
    if isName("recursive") { throw error("recursive loops are not supported") }
    try expectBlockEnd()
    let (body, end) = try parseBlockBody("for", until: ["endfor", "else"])
    var otherwise: [Node] = []
    if end == "else" {
      try expectBlockEnd()
      (otherwise, _) = try parseBlockBody("for", until: ["endfor"])
    }
    try expectBlockEnd()
    return .loop(Loop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, offset: offset))
  }

  mutating func parseSet(offset: Int) throws(ChatTemplateError) -> Node {
    let target = try parseAssignTarget(allowNamespace: true)
    if skipSymbol("=") {
      let value = try parseTuple()
      try expectBlockEnd()
      return .assign(target, value, offset: offset)
    }
    let filters = isSymbol("|") ? try parseFilterChain(leadingPipe: true) : []
    try expectBlockEnd()
    let (body, _) = try parseBlockBody("set", until: ["endset"])
    try expectBlockEnd()
    return .assignBlock(target, filters: filters, body: body, offset: offset)
  }

  mutating func parseAssignTarget(allowNamespace: Bool) throws(ChatTemplateError) -> AssignmentTarget {
    var targets: [AssignmentTarget] = []
    var sawComma = false
    repeat {
      if !targets.isEmpty, isName("in") || isSymbol("=") || current.kind == .blockEnd { break }
      let name = try expectName()
      if allowNamespace, skipSymbol(".") {
        targets.append(.attribute(name, try expectName()))
      } else {
        targets.append(.name(name))
      }
      if isSymbol(",") { sawComma = true }
    } while skipSymbol(",")
    return sawComma ? .tuple(targets) : targets[0]
  }

  mutating func parseMacro() throws(ChatTemplateError) -> Node {
    let name = try expectName()
    let parameters = try parseSignature()
    try expectBlockEnd()
    let (body, _) = try parseBlockBody("macro", until: ["endmacro"])
    try expectBlockEnd()
    return .macro(MacroDefinition(name: name, parameters: parameters, body: body))
  }

  mutating func parseSignature() throws(ChatTemplateError) -> [MacroDefinition.Parameter] {
    try expectSymbol("(")
    var parameters: [MacroDefinition.Parameter] = []
    while !isSymbol(")") {
      if !parameters.isEmpty { try expectSymbol(",") }
      if isSymbol(")") { break }
      let name = try expectName()
      let defaultValue = skipSymbol("=") ? try parseExpression() : nil
      if defaultValue == nil, parameters.last?.defaultValue != nil {
        throw error("non-default argument follows default argument")
      }
      parameters.append(.init(name: name, defaultValue: defaultValue))
    }
    try expectSymbol(")")
    return parameters
  }

  mutating func parseCallBlock() throws(ChatTemplateError) -> Node {
    let parameters = isSymbol("(") ? try parseSignature() : []
    let call = try parseExpression()
    guard case .call = call.kind else { throw error("expected call", at: tokens[index - 1]) }
    try expectBlockEnd()
    let (body, _) = try parseBlockBody("call", until: ["endcall"])
    try expectBlockEnd()
    return .callBlock(call: call, parameters: parameters, body: body)
  }

  /// `name(args)|name2 ...` for `{% filter %}` and `{% set x | filter %}`.
  mutating func parseFilterChain(leadingPipe: Bool = false) throws(ChatTemplateError) -> [(
    name: String, arguments: Expression.Arguments, offset: Int
  )] {
    var filters: [(name: String, arguments: Expression.Arguments, offset: Int)] = []
    var first = !leadingPipe
    while first || skipSymbol("|") {
      first = false
      let offset = current.offset
      let name = try parseDottedName()
      let arguments = isSymbol("(") ? try parseCallArguments() : Expression.Arguments()
      filters.append((name, arguments, offset))
    }
    return filters
  }

  mutating func parseDottedName() throws(ChatTemplateError) -> String {
    var name = try expectName()
    while isSymbol("."), case .name = peek().kind {
      _ = advance()
      name += "." + (try expectName())
    }
    return name
  }
}
