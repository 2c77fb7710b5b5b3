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

/// What one render may spend: a template is code from a downloaded file, and a loop, a repetition or a
/// recursion must end with an error rather than run or allocate without bound.
final class RenderBudget: @unchecked Sendable {
  /// Statements, loop iterations and macro calls of one render.
  static let maximumSteps = 10_000_000
  /// Bytes of text a render may produce, and of any string it builds.
  static let maximumBytes = 64 << 20
  /// Elements of any list it builds.
  static let maximumElements = 16 << 20

  // One render runs on one thread.
  private var steps = 0
  private let maximumSteps: Int

  /// A budget of `maximumSteps` steps.
  init(maximumSteps: Int = RenderBudget.maximumSteps) {
    self.maximumSteps = maximumSteps
  }

  /// Counts one step.
  func step() throws {
    steps += 1
    guard steps <= maximumSteps else {
      throw JinjaFailure("render budget exceeded: more than \(maximumSteps) steps")
    }
  }

  /// Checks the size of produced text.
  static func check(bytes: Int) throws {
    guard bytes <= maximumBytes else {
      throw JinjaFailure("render budget exceeded: text longer than \(maximumBytes) bytes")
    }
  }

  /// Checks the size of a repetition before building it: `unit` bytes or elements, `count` times.
  static func checkRepetition(unit: Int, count: Int, limit: Int) throws {
    let (total, overflow) = unit.multipliedReportingOverflow(by: max(0, count))
    guard !overflow, total <= limit else {
      throw JinjaFailure("render budget exceeded: a repetition of \(count) × \(unit) is too large")
    }
  }
}
