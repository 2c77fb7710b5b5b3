internal import Yams

/// The resources one YAML document may use, so that a hostile file (a few hundred bytes of nested
/// aliases — "billion laughs" — or deep nesting) is refused with a message instead of growing memory
/// or time without bound. Job and registry files are far below every limit.
public struct YAMLBudget: Sendable, Equatable {
  /// The largest document, in bytes of UTF-8 text.
  public var maximumBytes: Int
  /// The most nodes the document may expand to, every use of an alias counted again.
  public var maximumNodes: Int
  /// The deepest nesting of mappings and lists.
  public var maximumDepth: Int

  /// Creates a budget.
  ///
  /// - Parameters:
  ///   - maximumBytes: The largest document in bytes.
  ///   - maximumNodes: The most nodes after alias expansion.
  ///   - maximumDepth: The deepest nesting.
  public init(maximumBytes: Int, maximumNodes: Int, maximumDepth: Int) {
    self.maximumBytes = maximumBytes
    self.maximumNodes = maximumNodes
    self.maximumDepth = maximumDepth
  }

  /// 4 MiB, 200 000 nodes, 64 levels.
  public static let standard = YAMLBudget(maximumBytes: 4 << 20, maximumNodes: 200_000, maximumDepth: 64)

  /// Checks a composed document: walks it as every reader would (aliases expanded), stopping at the first
  /// node over the budget, so the check itself costs at most `maximumNodes` steps.
  func check(_ root: Node, file: String) throws(ConfigurationError) {
    var count = 0
    try visit(root, depth: 1, count: &count, file: file)
  }

  private func visit(_ node: Node, depth: Int, count: inout Int, file: String) throws(ConfigurationError) {
    count += 1
    guard count <= maximumNodes else {
      throw error(
        at: node, file: file,
        "the document expands to more than \(maximumNodes) values (YAML aliases repeated inside each other?)")
    }
    switch node {
    case .scalar, .alias:
      return
    case .sequence(let sequence):
      guard depth < maximumDepth else { throw error(at: node, file: file, "nesting deeper than \(maximumDepth) levels") }
      for item in sequence { try visit(item, depth: depth + 1, count: &count, file: file) }
    case .mapping(let mapping):
      guard depth < maximumDepth else { throw error(at: node, file: file, "nesting deeper than \(maximumDepth) levels") }
      for pair in mapping {
        try visit(pair.key, depth: depth + 1, count: &count, file: file)
        try visit(pair.value, depth: depth + 1, count: &count, file: file)
      }
    }
  }

  private func error(at node: Node, file: String, _ message: String) -> ConfigurationError {
    let line = node.mark?.line ?? 1
    let column = node.mark?.column ?? 1
    return ConfigurationError(location: SourceLocation(file: file, line: line, column: column), message: message)
  }
}
