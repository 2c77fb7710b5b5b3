public import QuantCore

/// A per-tensor rule of a job file: a glob on tensor or module names and what to do with matches.
///
/// `*` matches any run of characters (dots included), `?` one character, `[abc]` one of a set.
/// A pattern matches a tensor when it matches the tensor name (`model.layers.0.mlp.up_proj.weight`)
/// or its module name (`model.layers.0.mlp.up_proj`). The first matching rule wins.
public struct TensorRule: Sendable, Equatable {
  /// The glob.
  public var pattern: String
  /// The format name or alias, or `nil` for `format: none` (keep the tensor as it is).
  public var format: String?
  /// Parameters for this rule's format (over the job's and the registry's defaults).
  public var parameters: FormatParameters
  /// Where the rule is in the job file.
  public var location: SourceLocation?
  /// Where each of ``parameters`` is written in the job file.
  public var parameterLocations: [String: SourceLocation] = [:]

  /// Creates a rule.
  ///
  /// - Parameters:
  ///   - pattern: The glob.
  ///   - format: A format name, or `nil` to keep matching tensors unquantized.
  ///   - parameters: Format parameters.
  public init(pattern: String, format: String?, parameters: FormatParameters = FormatParameters()) {
    self.pattern = pattern
    self.format = format
    self.parameters = parameters
  }

  /// Reads a rule (`{match: GLOB, format: NAME|none, parameters: {...}}`).
  ///
  /// - Parameter node: The mapping.
  /// - Throws: `ConfigurationError` at the offending node.
  public init(yaml node: YAMLNode) throws(ConfigurationError) {
    try node.requireKeys(in: ["match", "format", "parameters"], "a rule")
    guard let match = node["match"] else { throw node.error("a rule needs 'match:' (a glob on tensor names)") }
    guard let formatNode = node["format"] else { throw node.error("a rule needs 'format:' (a format name, or none)") }
    let name = formatNode.isNull ? "none" : try formatNode.string("format")
    self.init(
      pattern: try match.string("match"), format: name == "none" ? nil : name,
      parameters: try node["parameters"].map { (value) throws(ConfigurationError) in try QuantizationJob.parameters(value) }
        ?? FormatParameters())
    location = formatNode.location
    if let value = node["parameters"], !value.isNull { parameterLocations = try QuantizationJob.parameterLocations(value) }
  }

  /// Whether the rule applies to `tensorName`.
  ///
  /// - Parameter tensorName: A checkpoint key.
  public func matches(_ tensorName: String) -> Bool {
    if Glob.matches(pattern, tensorName) { return true }
    guard let dot = tensorName.lastIndex(of: ".") else { return false }
    return Glob.matches(pattern, String(tensorName[..<dot]))
  }
}

/// Shell-style wildcard matching (`*`, `?`, `[set]`, `[!set]`), as Python's `fnmatch` without case folding.
enum Glob {
  static func matches(_ pattern: String, _ text: String) -> Bool {
    let pattern = Array(pattern.unicodeScalars)
    let text = Array(text.unicodeScalars)
    var p = 0
    var t = 0
    var starPattern = -1
    var starText = 0
    while t < text.count {
      if p < pattern.count, pattern[p] == "*" {
        starPattern = p
        starText = t
        p += 1
        continue
      }
      if p < pattern.count, let next = matchOne(pattern, p, text[t]) {
        p = next
        t += 1
        continue
      }
      guard starPattern >= 0 else { return false }
      p = starPattern + 1
      starText += 1
      t = starText
    }
    while p < pattern.count, pattern[p] == "*" { p += 1 }
    return p == pattern.count
  }

  /// Matches one pattern element at `p` against `character`; returns the next pattern index.
  private static func matchOne(_ pattern: [Unicode.Scalar], _ p: Int, _ character: Unicode.Scalar) -> Int? {
    switch pattern[p] {
    case "?": return p + 1
    case "[":
      var index = p + 1
      var negate = false
      if index < pattern.count, pattern[index] == "!" {
        negate = true
        index += 1
      }
      var matched = false
      var first = true
      while index < pattern.count, pattern[index] != "]" || first {
        first = false
        if index + 2 < pattern.count, pattern[index + 1] == "-", pattern[index + 2] != "]" {
          if pattern[index] <= character && character <= pattern[index + 2] { matched = true }
          index += 3
        } else {
          if pattern[index] == character { matched = true }
          index += 1
        }
      }
      guard index < pattern.count else { return pattern[p] == character ? p + 1 : nil }
      return matched != negate ? index + 1 : nil
    default:
      return pattern[p] == character ? p + 1 : nil
    }
  }
}
