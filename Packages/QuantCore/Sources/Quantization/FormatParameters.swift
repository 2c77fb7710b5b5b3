/// The kind of value a format parameter takes, with its allowed values.
public enum ParameterKind: Sendable, Equatable {
  /// `true` or `false`.
  case bool
  /// An integer, optionally restricted to a set.
  case integer(allowed: [Int]?)
  /// An integer within a range (`1...Int.max`: a positive integer).
  case integerRange(ClosedRange<Int>)
  /// A blocksize: an integer from a fixed set (a bad value is reported as
  /// `QuantError.unsupportedBlocksize`).
  case blocksize(supported: [Int])
  /// A number.
  case number
  /// A finite number within a range.
  case numberRange(ClosedRange<Double>)
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
    case .blocksize(let supported):
      guard let int = value.intValue else { return ("an integer", supported.map(String.init)) }
      return supported.contains(int) ? nil : ("one of the supported blocksizes", supported.map(String.init))
    case .integerRange(let range):
      let expected =
        range.upperBound == Int.max
        ? (range.lowerBound == 1 ? "a positive integer" : "an integer of at least \(range.lowerBound)")
        : "an integer from \(range.lowerBound) to \(range.upperBound)"
      guard let int = value.intValue, range.contains(int) else { return (expected, []) }
      return nil
    case .number:
      return value.doubleValue == nil ? ("a number", []) : nil
    case .numberRange(let range):
      let expected =
        range.upperBound == .greatestFiniteMagnitude
        ? "a finite number of at least \(range.lowerBound)" : "a number from \(range.lowerBound) to \(range.upperBound)"
      guard let number = value.doubleValue, number.isFinite, range.contains(number) else { return (expected, []) }
      return nil
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

  /// The value of `spec` (its default when unset), validated against its kind: the one place a
  /// parameter value is checked when a format reads it.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The valid value.
  /// - Throws: `QuantError.unsupportedBlocksize` for a bad ``ParameterKind/blocksize(supported:)``,
  ///   else `QuantError.invalidArgument` naming the parameter, what it must be and the choices.
  public func value(_ spec: FormatParameterSpec) throws(QuantError) -> ConfigValue {
    let value = values[spec.name] ?? spec.defaultValue
    guard let problem = spec.kind.problem(with: value) else { return value }
    if case .blocksize(let supported) = spec.kind, let int = value.intValue {
      throw .unsupportedBlocksize(int, supported: supported)
    }
    let choices = problem.choices.isEmpty ? "" : " (\(problem.choices.joined(separator: ", ")))"
    throw .invalidArgument("parameter '\(spec.name)' must be \(problem.expected)\(choices), found \(value)")
  }

  /// Reads an integer parameter, validated by ``value(_:)``.
  ///
  /// - Parameter spec: The declaration (its default applies when unset).
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` or `unsupportedBlocksize` for a bad value.
  public func integer(_ spec: FormatParameterSpec) throws(QuantError) -> Int {
    let value = try value(spec)
    guard let int = value.intValue else { throw .invalidArgument("parameter '\(spec.name)' must be an integer, found \(value)") }
    return int
  }

  /// Reads a boolean parameter, validated by ``value(_:)``.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` for a bad value.
  public func bool(_ spec: FormatParameterSpec) throws(QuantError) -> Bool {
    let value = try value(spec)
    guard let bool = value.boolValue else { throw .invalidArgument("parameter '\(spec.name)' must be a boolean, found \(value)") }
    return bool
  }

  /// Reads a number parameter, validated by ``value(_:)``.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` for a bad value.
  public func number(_ spec: FormatParameterSpec) throws(QuantError) -> Double {
    let value = try value(spec)
    guard let number = value.doubleValue else {
      throw .invalidArgument("parameter '\(spec.name)' must be a number, found \(value)")
    }
    return number
  }

  /// Reads a string parameter, validated by ``value(_:)``.
  ///
  /// - Parameter spec: The declaration.
  /// - Returns: The value.
  /// - Throws: `QuantError.invalidArgument` for a bad value.
  public func string(_ spec: FormatParameterSpec) throws(QuantError) -> String {
    let value = try value(spec)
    guard let string = value.stringValue else {
      throw .invalidArgument("parameter '\(spec.name)' must be a string, found \(value)")
    }
    return string
  }
}

/// Why a configured parameter is not acceptable to a format (see
/// ``QuantizationFormat/parameterProblem(named:value:)``).
public struct FormatParameterProblem: Sendable, Equatable {
  /// Whether the name itself is unknown (else the value is bad).
  public var isUnknownName: Bool
  /// What is wrong (`parameter 'blocksize' of format 'nf4' must be one of the supported blocksizes`).
  public var message: String
  /// What was found (the name or the value).
  public var found: String
  /// The valid names or values.
  public var validChoices: [String]
}

extension QuantizationFormat {
  /// Checks a configured parameter against the format's declarations: the one check a registry file,
  /// a job file and a rule all go through.
  ///
  /// - Parameters:
  ///   - name: The parameter name as written.
  ///   - value: The value as written.
  /// - Returns: `nil` when the format declares `name` and `value` suits its kind, else the problem.
  public func parameterProblem(named name: String, value: ConfigValue) -> FormatParameterProblem? {
    guard let spec = parameterSpec(named: name) else {
      return FormatParameterProblem(
        isUnknownName: true, message: "format '\(self.name)' has no parameter '\(name)'", found: "'\(name)'",
        validChoices: parameterSpecs.map(\.name))
    }
    guard let problem = spec.kind.problem(with: value) else { return nil }
    return FormatParameterProblem(
      isUnknownName: false, message: "parameter '\(name)' of format '\(self.name)' must be \(problem.expected)",
      found: value.description, validChoices: problem.choices)
  }
}
