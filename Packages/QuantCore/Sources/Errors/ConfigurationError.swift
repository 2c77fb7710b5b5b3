/// A position in a configuration file (1-based line and column, as libyaml reports them).
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
  /// The file path, or a description such as `<string>`.
  public var file: String
  /// The line, from 1.
  public var line: Int
  /// The column, from 1.
  public var column: Int

  /// Creates a location.
  ///
  /// - Parameters:
  ///   - file: The file path.
  ///   - line: The 1-based line.
  ///   - column: The 1-based column.
  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }

  /// `file:line:column`.
  public var description: String { "\(file):\(line):\(column)" }
}

/// A problem in a configuration file: where it is, what was found and what would be valid.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
  /// Where the problem is; the file alone when no position is known.
  public var location: SourceLocation?
  /// The file, when `location` is unknown.
  public var file: String
  /// What is wrong.
  public var message: String
  /// What was found, if relevant.
  public var found: String?
  /// The valid choices, if there is a fixed set.
  public var validChoices: [String]

  /// Creates an error.
  ///
  /// - Parameters:
  ///   - location: The position of the offending node.
  ///   - file: The file (used when `location` is `nil`).
  ///   - message: What is wrong.
  ///   - found: What was found.
  ///   - validChoices: The accepted values.
  public init(location: SourceLocation?, file: String? = nil, message: String, found: String? = nil, validChoices: [String] = [])
  {
    self.location = location
    self.file = file ?? location?.file ?? "<unknown>"
    self.message = message
    self.found = found
    self.validChoices = validChoices
  }

  /// `file:line:column: message (found: …; valid choices: …)`.
  public var description: String {
    var text = "\(location?.description ?? file): \(message)"
    if let found { text += "; found \(found)" }
    if !validChoices.isEmpty { text += "; valid choices: \(validChoices.joined(separator: ", "))" }
    return text
  }
}

/// Errors from registering and looking up formats and backends.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A format or backend with this name (or alias) is already registered.
  case duplicateName(String, kind: String)
  /// No format has this name or alias.
  case unknownFormat(String, available: [String])
  /// No backend has this name.
  case unknownBackend(String, available: [String])
  /// The named item exists but the configuration disabled it.
  case disabled(String, kind: String)
  /// The backend exists but cannot run on this machine; `reason` is the backend's
  /// ``KernelBackend/unavailableReason`` (a compiler log, a missing GPU feature), when it gives one.
  case backendUnavailable(String, available: [String], reason: String? = nil)
  /// A plugin was written against a newer plugin API than this build provides.
  case pluginAPIMismatch(plugin: String, required: Int, supported: Int)

  /// A one-line message.
  public var description: String {
    switch self {
    case .duplicateName(let name, let kind): "a \(kind) named '\(name)' is already registered"
    case .unknownFormat(let name, let available):
      "unknown format '\(name)'; valid choices: \(available.joined(separator: ", "))"
    case .unknownBackend(let name, let available):
      "unknown backend '\(name)'; valid choices: \(available.joined(separator: ", "))"
    case .disabled(let name, let kind): "the \(kind) '\(name)' is disabled by the registry configuration"
    case .backendUnavailable(let name, let available, let reason):
      "backend '\(name)' is not available on this machine\(reason.map { " (\($0))" } ?? ""); available: "
        + available.joined(separator: ", ")
    case .pluginAPIMismatch(let plugin, let required, let supported):
      "plugin '\(plugin)' needs plugin API \(required), but this build provides API \(supported); update swift-bitsandbytes"
    }
  }
}
