/// One entry of `llm_int8_skip_modules`, checked and compiled once.
///
/// transformers 5 (`quantizers_utils.should_convert_module`) skips a module when the entry, read as a
/// regular expression, matches from the start of the module name up to a module boundary
/// (`re.match(rf"(?:{entry})(?:(?<=\.)|(?=\.|$))", name)`), or when the name ends with the entry. So
/// `model.layers.1` skips `model.layers.1.mlp`, not `model.layers.10.mlp`, and `mlp.gate` not
/// `mlp.gate_proj`.
///
/// An entry is refused when it is not a valid regular expression (transformers raises `re.error`), or
/// when it could take exponential time on a crafted module name: a repeated group that itself repeats
/// or alternates (`(a+)+`, `(a|aa)*`), a backreference, or more than four unbounded repetitions. Entries
/// whose only special character is `.` (almost all: `lm_head`, `model.layers.0`) never reach the regular
/// expression engine.
public struct SkipModulePattern: @unchecked Sendable {
  /// The entry as written.
  public let entry: String
  private let matcher: Matcher

  private enum Matcher {
    /// `.` matches any one character but a newline; everything else itself.
    case dotted([Unicode.Scalar])
    case regex(Regex<AnyRegexOutput>)
  }

  /// The longest entry accepted, in characters.
  public static let maximumLength = 1_000

  /// Checks and compiles an entry.
  ///
  /// - Parameter entry: The `llm_int8_skip_modules` entry.
  /// - Throws: `SkipModulePattern.Problem` saying why the entry cannot be used.
  public init(_ entry: String) throws(Problem) {
    self.entry = entry
    guard entry.unicodeScalars.count <= Self.maximumLength else {
      throw Problem(message: "is longer than \(Self.maximumLength) characters")
    }
    let specials = Set("^$*+?()[]{}|\\".unicodeScalars)
    if !entry.unicodeScalars.contains(where: specials.contains) {
      matcher = .dotted(Array(entry.unicodeScalars))
      return
    }
    if let problem = Self.backtrackingProblem(in: entry) { throw Problem(message: problem) }
    do {
      matcher = .regex(try Regex(entry))
    } catch {
      throw Problem(message: "is not a valid regular expression: \(error)")
    }
  }

  /// Why an entry is refused.
  public struct Problem: Error, Sendable, Equatable {
    /// What is wrong with the entry (`is not a valid regular expression: …`).
    public var message: String
  }

  /// Whether the module is skipped by this entry.
  ///
  /// - Parameter module: A module name (`model.layers.0.mlp.up_proj`).
  /// - Returns: `true` when transformers would leave the module unquantized.
  public func matches(module: String) -> Bool {
    if module.hasSuffix(entry) { return true }
    let name = Array(module.unicodeScalars)
    switch matcher {
    case .dotted(let pattern):
      guard pattern.count <= name.count else { return false }
      for (index, character) in pattern.enumerated() where character != name[index] {
        guard character == ".", name[index] != "\n" else { return false }
      }
      return Self.isBoundary(pattern.count, in: name)
    case .regex(let regex):
      // Every end at a boundary, as Python's backtracking into the lookarounds would try.
      let scalars = module.unicodeScalars
      var end = scalars.startIndex
      for offset in 0...name.count {
        if Self.isBoundary(offset, in: name), (try? regex.wholeMatch(in: Substring(scalars[..<end]))) != nil {
          return true
        }
        if end < scalars.endIndex { end = scalars.index(after: end) }
      }
      return false
    }
  }

  /// transformers' `(?:(?<=\.)|(?=\.|$))` at `offset`.
  private static func isBoundary(_ offset: Int, in name: [Unicode.Scalar]) -> Bool {
    offset == name.count || name[offset] == "." || (offset > 0 && name[offset - 1] == ".")
  }

  /// A reason the pattern could backtrack exponentially, or `nil`: a conservative syntactic check.
  static func backtrackingProblem(in pattern: String) -> String? {
    struct Group {
      var repeats = false
      var alternates = false
    }
    let scalars = Array(pattern.unicodeScalars)
    var groups = [Group()]
    var lastGroup: Group?  // the group just closed, when it is the atom a quantifier applies to
    var unbounded = 0
    var index = 0
    func quantifier(at index: Int) -> (length: Int, unbounded: Bool)? {
      switch scalars[index] {
      case "*", "+": return (1, true)
      case "?": return (1, false)
      case "{":
        guard let close = scalars[index...].firstIndex(of: "}") else { return nil }
        let body = String(String.UnicodeScalarView(scalars[(index + 1)..<close]))
        let parts = body.split(separator: ",", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy(\.isNumber) }), !parts[0].isEmpty else {
          return nil
        }
        return (close - index + 1, parts.count == 2 && parts[1].isEmpty)
      default: return nil
      }
    }
    while index < scalars.count {
      let character = scalars[index]
      if let (length, isUnbounded) = quantifier(at: index) {
        if isUnbounded {
          unbounded += 1
          if let group = lastGroup, group.repeats || group.alternates {
            return "can take exponential time: a repeated group that itself repeats or alternates, as in (a+)+ or (a|aa)*"
          }
        }
        groups[groups.count - 1].repeats = true
        index += length
        // A lazy or possessive suffix belongs to the quantifier.
        if index < scalars.count, scalars[index] == "?" || scalars[index] == "+" { index += 1 }
        lastGroup = nil
        continue
      }
      lastGroup = nil
      switch character {
      case "\\":
        if index + 1 < scalars.count, ("1"..."9").contains(scalars[index + 1]) {
          return "uses a backreference, which can take exponential time"
        }
        index += 2
        continue
      case "[":
        // A set is one atom: skip to its closing bracket (a leading `]` or `^]` is literal).
        var end = index + 1
        if end < scalars.count, scalars[end] == "^" { end += 1 }
        if end < scalars.count, scalars[end] == "]" { end += 1 }
        while end < scalars.count, scalars[end] != "]" { end += scalars[end] == "\\" ? 2 : 1 }
        index = end + 1
        continue
      case "(":
        groups.append(Group())
        // `(?:`, `(?=`, `(?P<name>` …: the `?` opens a group kind, it repeats nothing.
        if index + 1 < scalars.count, scalars[index + 1] == "?" { index += 1 }
      case ")":
        if groups.count > 1 {
          let closed = groups.removeLast()
          if closed.repeats { groups[groups.count - 1].repeats = true }
          lastGroup = closed
        }
      case "|":
        groups[groups.count - 1].alternates = true
      default:
        break
      }
      index += 1
    }
    if unbounded > 4 {
      return "has \(unbounded) unbounded repetitions (at most 4), which can take polynomial time of high degree"
    }
    return nil
  }
}
