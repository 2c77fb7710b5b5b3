import Foundation

/// Runs a parsed template (work in progress: statements are added next).
struct Interpreter {
  let map: SourceMap
  let now: Date

  func run(_ nodes: [Node], variables: [String: JinjaValue]) throws(ChatTemplateError) -> String {
    var output = ""
    for node in nodes {
      guard case .text(let text) = node else {
        throw .render(message: "not yet supported", location: SourceLocation(line: 1, column: 1))
      }
      output += text
    }
    return output
  }
}
