/// A piece of text on its way to the model.
struct TextPiece {
  /// The text (already normalized).
  var text: Substring
  /// Whether the piece starts at offset 0 of the original input (Metaspace's `prepend_scheme: first`).
  var atOrigin: Bool
}

/// How Metaspace adds its replacement character in front of a piece.
enum PrependScheme: String, Sendable {
  case always, first, never

  static func make(_ node: JSONNode) throws(TokenizerError) -> PrependScheme {
    if let name = try node.string("prepend_scheme") {
      guard let scheme = PrependScheme(rawValue: name) else {
        throw try node.required("prepend_scheme").mismatch("always, first or never")
      }
      return scheme
    }
    // Files written before `prepend_scheme` existed say `add_prefix_space`.
    return try node.bool("add_prefix_space") ?? true ? .always : .never
  }
}

/// A `pre_tokenizer` of `tokenizer.json`: splits normalized text into the pieces the model sees one at a time.
indirect enum PreTokenizer: Sendable {
  case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
  case split(PatternMatcher, SplitBehavior, invert: Bool)
  case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
  case digits(individual: Bool)
  case punctuation(SplitBehavior)
  case whitespace
  case whitespaceSplit
  case sequence([PreTokenizer])

  /// GPT-2's pattern, which `ByteLevel` applies when `use_regex` is true.
  static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

  /// Builds a pre-tokenizer from its JSON object.
  static func make(_ node: JSONNode) throws(TokenizerError) -> PreTokenizer {
    let type = try node.typeName()
    switch type {
    case "ByteLevel":
      return .byteLevel(addPrefixSpace: try node.bool("add_prefix_space") ?? true, useRegex: try node.bool("use_regex") ?? true)
    case "Split":
      return .split(
        try PatternMatcher.make(try node.required("pattern")), try SplitBehavior.make(node["behavior"]),
        invert: try node.bool("invert") ?? false)
    case "Metaspace":
      let replacement = try node.string("replacement") ?? "\u{2581}"
      guard replacement.unicodeScalars.count == 1 else { throw try node.required("replacement").mismatch("one character") }
      return .metaspace(
        replacement: replacement, prependScheme: try PrependScheme.make(node), split: try node.bool("split") ?? true)
    case "Digits": return .digits(individual: try node.bool("individual_digits") ?? false)
    case "Punctuation": return .punctuation(try SplitBehavior.make(node["behavior"]))
    case "Whitespace": return .whitespace
    case "WhitespaceSplit": return .whitespaceSplit
    case "Sequence":
      var steps: [PreTokenizer] = []
      for child in try node.required("pretokenizers").array() { steps.append(try make(child)) }
      return .sequence(steps)
    default:
      throw .unsupported(file: node.file, component: node.path.isEmpty ? "pre_tokenizer" : node.path, type: type)
    }
  }

  /// Splits every piece.
  func preTokenize(_ pieces: [TextPiece]) -> [TextPiece] {
    if case .sequence(let steps) = self { return steps.reduce(pieces) { $1.preTokenize($0) } }
    var result: [TextPiece] = []
    result.reserveCapacity(pieces.count * 4)
    for piece in pieces { apply(to: piece, into: &result) }
    return result
  }

  private func apply(to piece: TextPiece, into result: inout [TextPiece]) {
    let text = piece.text
    func append(_ parts: [Substring]) {
      for part in parts {
        result.append(TextPiece(text: part, atOrigin: piece.atOrigin && part.startIndex == text.startIndex))
      }
    }
    switch self {
    case .byteLevel(let addPrefixSpace, let useRegex):
      var source = text
      if addPrefixSpace && text.utf8.first != UInt8(ascii: " ") { source = (" " + text)[...] }
      let parts = useRegex ? SplitBehavior.isolated.split(source, matches: Self.gpt2Matcher.matches(in: source)) : [source]
      for part in parts where !part.isEmpty {
        result.append(
          TextPiece(text: ByteLevelAlphabet.encode(part)[...], atOrigin: piece.atOrigin && part.startIndex == source.startIndex))
      }
    case .split(let matcher, let behavior, let invert):
      append(behavior.split(text, matches: matcher.matches(in: text), invert: invert))
    case .metaspace(let replacement, let scheme, let split):
      var replaced = String.UnicodeScalarView()
      let replacementScalar = replacement.unicodeScalars.first ?? "\u{2581}"
      for scalar in text.unicodeScalars { replaced.append(scalar == " " ? replacementScalar : scalar) }
      var string = String(replaced)
      if !string.utf8.starts(with: replacement.utf8) && (scheme == .always || (scheme == .first && piece.atOrigin)) {
        string = replacement + string
      }
      let whole = string[...]
      let parts = split ? SplitBehavior.mergedWithNext.split(whole, matches: whole.literalRanges(of: replacement)) : [whole]
      for part in parts { result.append(TextPiece(text: part, atOrigin: piece.atOrigin && part.startIndex == whole.startIndex)) }
    case .digits(let individual):
      append(
        (individual ? SplitBehavior.isolated : .contiguous).split(
          text, matches: scalarRuns(text, grouped: !individual) { isASCIIDigit($0) }))
    case .punctuation(let behavior):
      append(behavior.split(text, matches: scalarRuns(text, grouped: false) { isPunctuation($0) }))
    case .whitespace:
      append(SplitBehavior.removed.split(text, matches: Self.whitespaceMatcher.matches(in: text), invert: true))
    case .whitespaceSplit:
      append(SplitBehavior.removed.split(text, matches: scalarRuns(text, grouped: true) { $0.properties.isWhitespace }))
    case .sequence:
      result.append(contentsOf: preTokenize([piece]))
    }
  }

  private static let gpt2Matcher: PatternMatcher =
    KnownPatternScanner(pattern: gpt2Pattern).map(PatternMatcher.scanner)
    ?? .regex(CompiledRegexCache.gpt2)
  private static let whitespaceMatcher: PatternMatcher = .regex(CompiledRegexCache.wordsAndSymbols)
}

/// Patterns the pre-tokenizers use internally.
enum CompiledRegexCache {
  // These literals are valid patterns; a failure would be a programming error caught by every test.
  static let gpt2 = compile(PreTokenizer.gpt2Pattern)
  static let wordsAndSymbols = compile(#"\w+|[^\w\s]+"#)

  private static func compile(_ pattern: String) -> CompiledRegex {
    do {
      return try CompiledRegex(pattern: pattern, file: "(built-in)", key: "pattern")
    } catch {
      preconditionFailure("built-in pattern \(pattern) does not compile: \(error)")
    }
  }
}

private func isASCIIDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

/// Rust's `char::is_ascii_punctuation() || char::is_punctuation()` (general categories P*).
private func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
  if scalar.isASCII {
    let value = scalar.value
    return (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value) || (123...126).contains(value)
  }
  switch scalar.properties.generalCategory {
  case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
    .finalPunctuation, .otherPunctuation:
    return true
  default: return false
  }
}

/// The ranges of single scalars (or runs of them when `grouped`) that satisfy `predicate`.
private func scalarRuns(_ text: Substring, grouped: Bool, _ predicate: (Unicode.Scalar) -> Bool) -> [Range<String.Index>] {
  var result: [Range<String.Index>] = []
  let scalars = text.unicodeScalars
  var index = scalars.startIndex
  while index != scalars.endIndex {
    let next = scalars.index(after: index)
    if predicate(scalars[index]) {
      if grouped, let last = result.last, last.upperBound == index {
        result[result.count - 1] = last.lowerBound..<next
      } else {
        result.append(index..<next)
      }
    }
    index = next
  }
  return result
}
