/// The kind of value a format parameter takes, with its allowed values.
public enum ParameterKind: Sendable, Equatable {
  /// `true` or `false`.
  case bool
  /// An integer, optionally restricted to a set.
  case integer(allowed: [Int]?)
  /// A number.
  case number
  /// A string, optionally restricted to a set.
  case string(allowed: [String]?)

  /// Checks a value against this kind.
  ///
  /// - Parameter value: The configured value.
  /// - Returns: `nil` when valid, else what was expected (for error messages).
  public func problem(with value: ConfigValue) -> (expected: String, choices: [String])? {
    switch self {
    case .bool:
      return value.boolValue == nil ? ("a boolean", ["true", "false"]) : nil
    case .integer(let allowed):
      guard let int = value.intValue else { return ("an integer", allowed?.map(String.init) ?? []) }
      if let allowed, !allowed.contains(int) { return ("one of the allowed integers", allowed.map(String.init)) }
      return nil
    case .number:
      return value.doubleValue == nil ? ("a number", []) : nil
    case .string(let allowed):
      guard let string = value.stringValue else { return ("a string", allowed ?? []) }
      if let allowed, !allowed.contains(string) { return ("one of the allowed strings", allowed) }
      return nil
    }
  }
}

/// The declaration of one parameter a format accepts (its name, kind, default and meaning).
public struct FormatParameterSpec: Sendable, Equatable {
  /// The parameter name as written in YAML (`blocksize`).
  public var name: String
  /// The accepted values.
  public var kind: ParameterKind
  /// The value used when none is configured.
  public var defaultValue: ConfigValue
  /// One line for documentation and `bnb-patch formats`.
  public var summary: String

  /// Declares a parameter.
  ///
  /// - Parameters:
  ///   - name: The YAML name.
  ///   - kind: The accepted values.
  ///   - defaultValue: The default.
  ///   - summary: One line of documentation.
  public init(name: String, kind: ParameterKind, defaultValue: ConfigValue, summary: String) {
    self.name = name
    self.kind = kind
    self.defaultValue = defaultValue
    self.summary = summary
  }
}

/// Parameter values for one quantization call, keyed by parameter name.
public struct FormatParameters: Sendable, Equatable {
  /// The values, by name.
  public var values: [String: ConfigValue]

  /// Creates parameters.
  ///
  /// - Parameter values: Values by name; unset names fall back to the format's defaults.
  public init(_ values: [String: ConfigValue] = [:]) {
    self.values = values
  }

  /// The value of `name`, or `nil`.
  public subscript(name: String) -> ConfigValue? {
    get { values[name] }
    set { values[name] = newValue }
  }

  /// These values over `defaults` (these win).
  ///
  /// - Parameter defaults: Lower-priority values.
  /// - Returns: The merged parameters.
  public func merged(over defaults: FormatParameters) -> FormatParameters {
    FormatParameters(defaults.values.merging(values) { _, mine in mine })
  }

  /// Reads an integer parameter, validating it against `spec`.
  ///
  /// - Parameter spec: The declaration (its default applies when unset).
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` or `unsupportedBlocksize` for a bad value.
  public func integer(_ spec: FormatParameterSpec) throws(QuantError) -> Int {
    let value = values[spec.name] ?? spec.defaultValue
    if let problem = spec.kind.problem(with: value) {
      if spec.name == "blocksize", let int = value.intValue, case .integer(let allowed?) = spec.kind {
        throw .unsupportedBlocksize(int, supported: allowed)
      }
      throw .invalidArgument("parameter '\(spec.name)' must be \(problem.expected), found \(value)")
    }
    return value.intValue ?? 0
  }

  /// Reads a boolean parameter, validating it against `spec`.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` for a bad value.
  public func bool(_ spec: FormatParameterSpec) throws(QuantError) -> Bool {
    let value = values[spec.name] ?? spec.defaultValue
    guard let result = value.boolValue else {
      throw .invalidArgument("parameter '\(spec.name)' must be a boolean, found \(value)")
    }
    return result
  }

  /// Reads a number parameter, validating it against `spec`.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` for a bad value.
  public func number(_ spec: FormatParameterSpec) throws(QuantError) -> Double {
    let value = values[spec.name] ?? spec.defaultValue
    guard let result = value.doubleValue else {
      throw .invalidArgument("parameter '\(spec.name)' must be a number, found \(value)")
    }
    return result
  }

  /// Reads a string parameter, validating it against `spec`.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` for a bad value.
  public func string(_ spec: FormatParameterSpec) throws(QuantError) -> String {
    let value = values[spec.name] ?? spec.defaultValue
    if let problem = spec.kind.problem(with: value) {
      throw .invalidArgument(
        "parameter '\(spec.name)' must be \(problem.expected) (\(problem.choices.joined(separator: ", "))), found \(value)")
    }
    return value.stringValue ?? ""
  }
}
