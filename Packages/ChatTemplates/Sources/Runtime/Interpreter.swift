import Foundation

/// Runs a parsed template: statements here, expressions in `Interpreter+Expressions.swift`.
struct Interpreter: Sendable {
  let map: SourceMap
  let now: Date
  /// Macro calls in progress: a template that recurses without end fails instead of exhausting the stack.
  let callDepth = CallDepth()
  static let maximumCallDepth = 48
  /// Steps and sizes of this render (``RenderBudget``).
  let budget: RenderBudget

  func run(_ nodes: [Node], variables: [String: JinjaValue]) throws(ChatTemplateError) -> String {
    let globals = Scope(parent: nil, variables: Globals.functions(now: now))
    let scope = Scope(parent: globals, variables: variables)
    var output = ""
    do {
      _ = try render(nodes, scope: scope, into: &output)
    } catch let error as ChatTemplateError {
      throw error
    } catch let failure as JinjaFailure {
      throw .render(message: failure.message, location: SourceLocation(line: 1, column: 1))
    } catch {
      throw .render(message: "\(error)", location: SourceLocation(line: 1, column: 1))
    }
    return output
  }

  func location(_ offset: Int) -> SourceLocation { map.location(offset) }

  /// Runs `body`, turning a location-less failure into an error at `offset`.
  func at<T>(_ offset: Int, _ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch let failure as JinjaFailure {
      throw ChatTemplateError.render(message: failure.message, location: location(offset))
    } catch let error as JinjaJSONError {
      throw ChatTemplateError.render(message: error.description, location: location(offset))
    }
  }

  func render(_ nodes: [Node], scope: Scope, into output: inout String) throws -> ControlFlow {
    for node in nodes {
      let flow = try render(node, scope: scope, into: &output)
      if flow != .normal { return flow }
    }
    return .normal
  }

  func render(_ node: Node, scope: Scope, into output: inout String) throws -> ControlFlow {
    try budget.step()
    let flow = try renderUnchecked(node, scope: scope, into: &output)
    try RenderBudget.check(bytes: output.utf8.count)
    return flow
  }

  private func renderUnchecked(_ node: Node, scope: Scope, into output: inout String) throws -> ControlFlow {
    switch node {
    case .text(let text):
      output += text
    case .output(let expression):
      let value = try evaluate(expression, scope: scope)
      output += value.pythonString
    case .conditional(let branches, let otherwise):
      for branch in branches where try evaluate(branch.condition, scope: scope).isTruthy {
        return try render(branch.body, scope: scope, into: &output)
      }
      return try render(otherwise, scope: scope, into: &output)
    case .loop(let loop):
      try renderLoop(loop, scope: scope, into: &output)
    case .assign(let target, let expression, let offset):
      let value = try evaluate(expression, scope: scope)
      try at(offset) { try assign(value, to: target, scope: scope) }
    case .assignBlock(let target, let filters, let body, let offset):
      var text = ""
      _ = try render(body, scope: Scope(parent: scope), into: &text)
      var value = JinjaValue.string(text)
      for filter in filters {
        let arguments = try evaluate(filter.arguments, scope: scope)
        value = try at(filter.offset) { try applyFilter(filter.name, to: value, arguments) }
      }
      try at(offset) { try assign(value, to: target, scope: scope) }
    case .macro(let definition):
      scope.set(definition.name, makeMacro(definition, scope: scope, caller: nil))
    case .callBlock(let call, let parameters, let body):
      let caller = makeMacro(MacroDefinition(name: "caller", parameters: parameters, body: body), scope: scope, caller: nil)
      guard case .call(let callee, let arguments) = call.kind else { break }
      output += try evaluateCall(callee, arguments, scope: scope, extra: [("caller", caller)], offset: call.offset).pythonString
    case .filterBlock(let filters, let body):
      var text = ""
      _ = try render(body, scope: scope, into: &text)
      var value = JinjaValue.string(text)
      for filter in filters {
        let arguments = try evaluate(filter.arguments, scope: scope)
        value = try at(filter.offset) { try applyFilter(filter.name, to: value, arguments) }
      }
      output += value.pythonString
    case .breakLoop:
      return .breakLoop
    case .continueLoop:
      return .continueLoop
    case .generation(let body):
      return try render(body, scope: scope, into: &output)
    }
    return .normal
  }

  func assign(_ value: JinjaValue, to target: AssignmentTarget, scope: Scope) throws {
    switch target {
    case .name(let name):
      scope.set(name, value)
    case .attribute(let name, let attribute):
      guard case .namespace(let namespace) = scope.lookup(name) ?? .undefined(hint: "") else {
        throw JinjaFailure("cannot assign attribute on non-namespace object")
      }
      if attribute.hasPrefix("_") {
        throw JinjaFailure(
          "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attribute)'. "
            + "Please rename the attribute.")
      }
      namespace.attributes[attribute] = value
    case .tuple(let targets):
      let items = try iterate(value)
      guard items.count == targets.count else {
        throw JinjaFailure(
          items.count > targets.count
            ? "too many values to unpack (expected \(targets.count))"
            : "not enough values to unpack (expected \(targets.count), got \(items.count))")
      }
      for (item, target) in zip(items, targets) { try assign(item, to: target, scope: scope) }
    }
  }

  func renderLoop(_ loop: Loop, scope: Scope, into output: inout String) throws {
    let iterable = try evaluate(loop.iterable, scope: scope)
    var items = try at(loop.iterable.offset) { try iterate(iterable) }
    let loopScope = Scope(parent: scope)
    if let filter = loop.filter {
      items = try items.filter { item in
        try at(loop.offset) { try assign(item, to: loop.target, scope: loopScope) }
        return try evaluate(filter, scope: loopScope).isTruthy
      }
    }
    guard !items.isEmpty else {
      _ = try render(loop.otherwise, scope: scope, into: &output)
      return
    }
    for (index, item) in items.enumerated() {
      try budget.step()
      let iterationScope = Scope(parent: scope)
      try at(loop.offset) { try assign(item, to: loop.target, scope: iterationScope) }
      iterationScope.set("loop", loopVariable(index: index, items: items))
      if try render(loop.body, scope: iterationScope, into: &output) == .breakLoop { break }
    }
  }

  private func loopVariable(index: Int, items: [JinjaValue]) -> JinjaValue {
    let count = items.count
    var loop = JinjaDictionary()
    loop["index"] = .int(index + 1)
    loop["index0"] = .int(index)
    loop["revindex"] = .int(count - index)
    loop["revindex0"] = .int(count - index - 1)
    loop["first"] = .bool(index == 0)
    loop["last"] = .bool(index == count - 1)
    loop["length"] = .int(count)
    loop["depth"] = .int(1)
    loop["depth0"] = .int(0)
    loop["previtem"] = index > 0 ? items[index - 1] : .undefined(hint: "there is no previous item")
    loop["nextitem"] = index + 1 < count ? items[index + 1] : .undefined(hint: "there is no next item")
    loop["cycle"] = .callable(
      JinjaCallable(name: "cycle") { arguments in
        guard !arguments.positional.isEmpty else { throw JinjaFailure("no items for cycling given") }
        return arguments.positional[index % arguments.positional.count]
      })
    return .dictionary(loop)
  }

  func makeMacro(_ definition: MacroDefinition, scope: Scope, caller: JinjaValue?) -> JinjaValue {
    let interpreter = self
    var macro = JinjaCallable(name: definition.name) { arguments in
      guard interpreter.callDepth.value < Self.maximumCallDepth else {
        throw JinjaFailure("maximum recursion depth exceeded (\(Self.maximumCallDepth) nested macro calls)")
      }
      interpreter.callDepth.value += 1
      defer { interpreter.callDepth.value -= 1 }
      let macroScope = Scope(parent: scope)
      if arguments.positional.count > definition.parameters.count {
        throw JinjaFailure(
          "macro '\(definition.name)' takes not more than \(definition.parameters.count) argument(s)")
      }
      for (index, parameter) in definition.parameters.enumerated() {
        if index < arguments.positional.count {
          macroScope.set(parameter.name, arguments.positional[index])
        } else if let value = arguments.keyword(parameter.name) {
          macroScope.set(parameter.name, value)
        } else if let defaultValue = parameter.defaultValue {
          macroScope.set(parameter.name, try interpreter.evaluate(defaultValue, scope: macroScope))
        } else {
          macroScope.set(parameter.name, .undefined(hint: "parameter '\(parameter.name)' was not provided"))
        }
      }
      for keyword in arguments.keywords where !definition.parameters.contains(where: { $0.name == keyword.name }) {
        if keyword.name == "caller" {
          macroScope.set("caller", keyword.value)
        } else {
          throw JinjaFailure("macro '\(definition.name)' takes no keyword argument '\(keyword.name)'")
        }
      }
      var text = ""
      _ = try interpreter.render(definition.body, scope: macroScope, into: &text)
      return .string(text)
    }
    macro.display = "<Macro '\(definition.name)'>"
    return .callable(macro)
  }
}
