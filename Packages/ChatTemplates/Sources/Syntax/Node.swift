/// An expression with the source offset where it starts (for error locations).
struct Expression: Sendable {
  indirect enum Kind: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([Expression])
    case tuple([Expression])
    case dictionary([(key: Expression, value: Expression)])
    /// `-x`, `+x`
    case unary(String, Expression)
    /// Arithmetic and `~`.
    case binary(String, Expression, Expression)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case not(Expression)
    /// A chain `a < b <= c` or `a in b`, `a not in b`.
    case compare(Expression, [(op: String, rhs: Expression)])
    case attribute(Expression, String)
    case item(Expression, Expression)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
    case call(Expression, Arguments)
    case filter(Expression, name: String, Arguments)
    case test(Expression, name: String, Arguments, negated: Bool)
    /// `a if cond else b`; without `else` the result is undefined when `cond` is false.
    case conditional(condition: Expression, then: Expression, otherwise: Expression?)
  }

  /// Call arguments as written.
  struct Arguments: Sendable {
    var positional: [Expression] = []
    var keywords: [(name: String, value: Expression)] = []
  }

  var kind: Kind
  var offset: Int
}

/// Where `{% set %}` and `{% for %}` store values.
enum AssignmentTarget: Sendable {
  case name(String)
  /// `ns.attribute`
  case attribute(String, String)
  case tuple([AssignmentTarget])
}

/// A statement of a parsed template.
indirect enum Node: Sendable {
  case text(String)
  case output(Expression)
  case conditional(branches: [(condition: Expression, body: [Node])], otherwise: [Node])
  case loop(Loop)
  case assign(AssignmentTarget, Expression, offset: Int)
  case assignBlock(
    AssignmentTarget, filters: [(name: String, arguments: Expression.Arguments, offset: Int)], body: [Node], offset: Int)
  case macro(MacroDefinition)
  /// `{% call(params) macro(args) %}body{% endcall %}`: `caller()` renders body.
  case callBlock(call: Expression, parameters: [MacroDefinition.Parameter], body: [Node])
  case filterBlock(filters: [(name: String, arguments: Expression.Arguments, offset: Int)], body: [Node])
  case breakLoop
  case continueLoop
  /// transformers' `{% generation %}`: renders its body unchanged.
  case generation([Node])
}

/// A `{% for %}` loop.
struct Loop: Sendable {
  var target: AssignmentTarget
  var iterable: Expression
  var filter: Expression?
  var body: [Node]
  var otherwise: [Node]
  var offset: Int
}

/// A `{% macro name(params) %}` definition.
struct MacroDefinition: Sendable {
  struct Parameter: Sendable {
    var name: String
    var defaultValue: Expression?
  }

  var name: String
  var parameters: [Parameter]
  var body: [Node]
}
