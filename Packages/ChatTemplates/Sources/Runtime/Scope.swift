/// Variables visible at one point of a render: a chain from the innermost block out to the globals.
final class Scope: @unchecked Sendable {
  // A scope belongs to one render on one thread; macros capture it by reference, as jinja2's frames do.
  private var variables: [String: JinjaValue] = [:]
  let parent: Scope?

  init(parent: Scope?, variables: [String: JinjaValue] = [:]) {
    self.parent = parent
    self.variables = variables
  }

  func lookup(_ name: String) -> JinjaValue? {
    var scope: Scope? = self
    while let current = scope {
      if let value = current.variables[name] { return value }
      scope = current.parent
    }
    return nil
  }

  func set(_ name: String, _ value: JinjaValue) { variables[name] = value }
}

/// Why rendering failed, before the interpreter attaches the template location.
struct JinjaFailure: Error {
  var message: String
  init(_ message: String) { self.message = message }
}

/// How a block of statements ended: normally, or by `{% break %}` / `{% continue %}`.
enum ControlFlow {
  case normal
  case breakLoop
  case continueLoop
}

/// The number of macro calls in progress in one render.
final class CallDepth: @unchecked Sendable {
  // One render runs on one thread.
  var value = 0
}
