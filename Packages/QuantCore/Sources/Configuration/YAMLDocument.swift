public import Foundation
internal import Yams

/// A parsed YAML document whose nodes remember their file, line and column.
///
/// Parsing uses libyaml (through Yams, which builds libyaml from source: no system package needed).
/// Every accessor fails with a ``ConfigurationError`` that names `file:line:column`, what was found
/// and, where there is a fixed set, the valid choices.
public struct YAMLDocument: Sendable {
  /// The root node.
  public let root: YAMLNode

  /// Parses YAML text.
  ///
  /// - Parameters:
  ///   - text: The YAML source.
  ///   - file: The name used in error locations.
  ///   - budget: The size, alias expansion and nesting the document may use.
  /// - Throws: `ConfigurationError` for malformed YAML, an empty document or one over `budget`.
  public init(text: String, file: String, budget: YAMLBudget = .standard) throws(ConfigurationError) {
    guard text.utf8.count <= budget.maximumBytes else {
      throw ConfigurationError(
        location: nil, file: file,
        message: "the file is \(text.utf8.count) bytes; YAML configuration is limited to \(budget.maximumBytes) bytes")
    }
    if let (line, column) = YAMLComplexKeyScan.firstComplexKey(in: text) {
      throw ConfigurationError(
        location: SourceLocation(file: file, line: line, column: column),
        message: "complex mapping keys (`? key`, or a list or mapping used as a key) are not supported")
    }
    let node: Node?
    do {
      node = try Yams.compose(yaml: text)
    } catch let error as YamlError {
      throw YAMLDocument.configurationError(from: error, file: file)
    } catch {
      throw ConfigurationError(location: nil, file: file, message: "cannot parse YAML: \(error)")
    }
    guard let node else {
      throw ConfigurationError(location: SourceLocation(file: file, line: 1, column: 1), message: "the document is empty")
    }
    try budget.check(node, file: file)
    root = YAMLNode(node: node, file: file)
  }

  /// Reads and parses a YAML file.
  ///
  /// A folder, named pipe or device is refused before it is opened (opening a pipe would block), and
  /// a file over the budget's size before it is read.
  ///
  /// - Parameters:
  ///   - url: The file.
  ///   - budget: The size, alias expansion and nesting the document may use.
  /// - Throws: `ConfigurationError` when the file cannot be read or parsed, or is over `budget`.
  public init(contentsOf url: URL, budget: YAMLBudget = .standard) throws(ConfigurationError) {
    if let problem = FileKindCheck.problem(at: url) {
      throw ConfigurationError(location: nil, file: url.path, message: "cannot read the file: it \(problem)")
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    guard size <= budget.maximumBytes else {
      throw ConfigurationError(
        location: nil, file: url.path,
        message: "the file is \(size) bytes; YAML configuration is limited to \(budget.maximumBytes) bytes")
    }
    let data: Data
    do {
      data = try Data(contentsOf: url)
    } catch {
      throw ConfigurationError(location: nil, file: url.path, message: "cannot read the file: \(error.localizedDescription)")
    }
    guard let text = String(validating: data, as: UTF8.self) else {
      throw ConfigurationError(location: nil, file: url.path, message: "the file is not valid UTF-8 text")
    }
    try self.init(text: text, file: url.path, budget: budget)
  }

  static func configurationError(from error: YamlError, file: String) -> ConfigurationError {
    switch error {
    case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
      let contextText = context.map { "\($0.text) " } ?? ""
      return ConfigurationError(
        location: SourceLocation(file: file, line: mark.line, column: mark.column),
        message: "malformed YAML: \(contextText)\(problem)")
    case .composer(let context, let problem, let mark, _):
      let contextText = context.map { "\($0.text) " } ?? ""
      return ConfigurationError(
        location: SourceLocation(file: file, line: mark.line, column: mark.column),
        message: "malformed YAML: \(contextText)\(problem)")
    default:
      return ConfigurationError(location: nil, file: file, message: "malformed YAML: \(error)")
    }
  }
}

/// One node of a ``YAMLDocument``, with typed accessors that report positions on failure.
public struct YAMLNode: @unchecked Sendable {
  let node: Node
  /// The file the node came from.
  public let file: String

  init(node: Node, file: String) {
    self.node = node
    self.file = file
  }

  /// Where the node starts.
  public var location: SourceLocation {
    SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
  }

  /// A short rendering of the node for "found …" messages.
  public var foundDescription: String {
    switch node {
    case .scalar(let scalar): "'\(scalar.string)'"
    case .mapping: "a mapping"
    case .sequence: "a list"
    case .alias: "an alias"
    }
  }

  /// Makes an error located at this node.
  ///
  /// - Parameters:
  ///   - message: What is wrong.
  ///   - validChoices: The accepted values, if any.
  /// - Returns: The error (to be thrown by the caller).
  public func error(_ message: String, validChoices: [String] = []) -> ConfigurationError {
    ConfigurationError(location: location, message: message, found: foundDescription, validChoices: validChoices)
  }

  /// The key/value pairs of a mapping, in document order; keys must be strings.
  ///
  /// - Parameter what: What the mapping is, for messages (`"the formats section"`).
  /// - Throws: `ConfigurationError` when the node is not a mapping.
  public func mapping(_ what: String) throws(ConfigurationError) -> [(key: String, keyNode: YAMLNode, value: YAMLNode)] {
    guard case .mapping(let mapping) = node else { throw error("\(what) must be a mapping") }
    return mapping.map { pair in
      (pair.key.string ?? "", YAMLNode(node: pair.key, file: file), YAMLNode(node: pair.value, file: file))
    }
  }

  /// Checks that a mapping uses only `allowed` keys.
  ///
  /// - Parameters:
  ///   - allowed: The accepted keys.
  ///   - what: What the mapping is, for messages.
  /// - Throws: `ConfigurationError` at the first unknown key, listing the valid keys.
  public func requireKeys(in allowed: [String], _ what: String) throws(ConfigurationError) {
    for (key, keyNode, _) in try mapping(what) where !allowed.contains(key) {
      throw keyNode.error("unknown key '\(key)' in \(what)", validChoices: allowed)
    }
  }

  /// The value of `key` in a mapping, or `nil`.
  ///
  /// - Parameter key: The key.
  public subscript(key: String) -> YAMLNode? {
    guard case .mapping(let mapping) = node, let value = mapping[key] else { return nil }
    return YAMLNode(node: value, file: file)
  }

  /// The items of a list.
  ///
  /// - Parameter what: What the list is, for messages.
  /// - Throws: `ConfigurationError` when the node is not a list.
  public func sequence(_ what: String) throws(ConfigurationError) -> [YAMLNode] {
    guard case .sequence(let sequence) = node else { throw error("\(what) must be a list") }
    return sequence.map { YAMLNode(node: $0, file: file) }
  }

  /// Whether the node is `null` / `~` / empty.
  public var isNull: Bool { node.null != nil }

  /// The node as a string scalar.
  ///
  /// - Parameters:
  ///   - what: What the value is, for messages.
  ///   - choices: When given, the value must be one of these.
  /// - Throws: `ConfigurationError` for a non-scalar or a value outside `choices`.
  public func string(_ what: String, choices: [String]? = nil) throws(ConfigurationError) -> String {
    guard case .scalar(let scalar) = node else { throw error("\(what) must be a string", validChoices: choices ?? []) }
    if let choices, !choices.contains(scalar.string) {
      throw error("invalid value for \(what)", validChoices: choices)
    }
    return scalar.string
  }

  /// The node as an integer.
  ///
  /// - Parameters:
  ///   - what: What the value is, for messages.
  ///   - choices: When given, the value must be one of these.
  /// - Throws: `ConfigurationError` for a non-integer or a value outside `choices`.
  public func int(_ what: String, choices: [Int]? = nil) throws(ConfigurationError) -> Int {
    guard let value = node.int else {
      throw error("\(what) must be an integer", validChoices: choices?.map(String.init) ?? [])
    }
    if let choices, !choices.contains(value) {
      throw error("invalid value for \(what)", validChoices: choices.map(String.init))
    }
    return value
  }

  /// The node as a number.
  ///
  /// - Parameter what: What the value is, for messages.
  /// - Throws: `ConfigurationError` for a non-number.
  public func double(_ what: String) throws(ConfigurationError) -> Double {
    if let value = node.int { return Double(value) }
    guard let value = node.float else { throw error("\(what) must be a number") }
    return value
  }

  /// The node as a boolean.
  ///
  /// - Parameter what: What the value is, for messages.
  /// - Throws: `ConfigurationError` for a non-boolean.
  public func bool(_ what: String) throws(ConfigurationError) -> Bool {
    guard let value = node.bool else { throw error("\(what) must be true or false", validChoices: ["true", "false"]) }
    return value
  }

  /// The node as a list of strings (a single string is accepted as a one-item list).
  ///
  /// - Parameter what: What the value is, for messages.
  /// - Throws: `ConfigurationError` for anything else.
  public func strings(_ what: String) throws(ConfigurationError) -> [String] {
    if case .scalar = node { return [try string(what)] }
    var result: [String] = []
    for item in try sequence(what) { result.append(try item.string("an item of \(what)")) }
    return result
  }

  /// The node converted to a ``ConfigValue`` (scalars resolved by YAML 1.1 core-schema tags).
  public var value: ConfigValue {
    switch node {
    case .scalar:
      if node.null != nil { return .null }
      if let bool = node.bool { return .bool(bool) }
      if let int = node.int { return .int(int) }
      if let double = node.float { return .double(double) }
      return .string(node.string ?? "")
    case .sequence(let sequence):
      return .array(sequence.map { YAMLNode(node: $0, file: file).value })
    case .mapping(let mapping):
      return .object(mapping.map { ($0.key.string ?? "", YAMLNode(node: $0.value, file: file).value) })
    case .alias:
      return .null
    }
  }
}
