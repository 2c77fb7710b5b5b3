/// A hand-written matcher for the split patterns of GPT-2, Llama 3 and Qwen2 (the hot path of encoding), with
/// exactly the semantics that Oniguruma gives them:
///
/// - GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - Qwen2: the Llama 3 pattern with `\p{N}` for `\p{N}{1,3}`.
///
/// `\s` is Unicode `White_Space`; `\p{L}` and `\p{N}` are general categories.
struct KnownPatternScanner: Sendable {
  enum Flavor: Sendable {
    case gpt2
    /// Llama 3 (`maximumDigits` 3) and Qwen2 (1).
    case llama3(maximumDigits: Int)
  }

  let flavor: Flavor

  static let llama3Pattern =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
  static let qwen2Pattern =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

  /// Recognizes a known pattern; nil for any other.
  init?(pattern: String) {
    switch pattern {
    case PreTokenizer.gpt2Pattern: flavor = .gpt2
    case Self.llama3Pattern: flavor = .llama3(maximumDigits: 3)
    case Self.qwen2Pattern: flavor = .llama3(maximumDigits: 1)
    default: return nil
    }
  }

  /// The matches, left to right.
  func matches(in text: Substring) -> [Range<String.Index>] {
    var scalars: [Unicode.Scalar] = []
    var classes: [ScalarClass] = []
    var offsets: [Int] = [0]  // UTF-8 offset of each scalar, and of the end
    scalars.reserveCapacity(text.utf8.count)
    classes.reserveCapacity(text.utf8.count)
    offsets.reserveCapacity(text.utf8.count + 1)
    var offset = 0
    for scalar in text.unicodeScalars {
      scalars.append(scalar)
      classes.append(ScalarClass(scalar))
      offset += UTF8.width(scalar)
      offsets.append(offset)
    }
    var result: [Range<String.Index>] = []
    result.reserveCapacity(scalars.count / 3)
    var position = 0
    let utf8 = text.utf8
    let base = text.startIndex
    var cursor = base
    var cursorOffset = 0
    func index(_ utf8Offset: Int) -> String.Index {
      cursor = utf8.index(cursor, offsetBy: utf8Offset - cursorOffset)
      cursorOffset = utf8Offset
      return cursor
    }
    while position < scalars.count {
      let end: Int
      switch flavor {
      case .gpt2: end = matchGPT2(scalars, classes, at: position)
      case .llama3(let maximumDigits): end = matchLlama3(scalars, classes, at: position, maximumDigits: maximumDigits)
      }
      if end > position {
        let lower = index(offsets[position])
        result.append(lower..<index(offsets[end]))
        position = end
      } else {
        position += 1
      }
    }
    return result
  }

  // MARK: - GPT-2

  private func matchGPT2(_ scalars: [Unicode.Scalar], _ classes: [ScalarClass], at start: Int) -> Int {
    let count = scalars.count
    let current = scalars[start]
    if current == "'", let end = contraction(scalars, at: start, caseInsensitive: false) { return end }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
    var body = start
    if current == " " && start + 1 < count && !classes[start + 1].isWhitespace { body = start + 1 }
    let kind = classes[body]
    if kind.isLetter { return run(classes, from: body) { $0.isLetter } }
    if kind.isNumber { return run(classes, from: body) { $0.isNumber } }
    if !kind.isWhitespace { return run(classes, from: body) { $0.isOther } }
    return whitespace(classes, at: start)
  }

  // MARK: - Llama 3 and Qwen2

  private func matchLlama3(_ scalars: [Unicode.Scalar], _ classes: [ScalarClass], at start: Int, maximumDigits: Int) -> Int {
    let count = scalars.count
    let current = scalars[start]
    let kind = classes[start]
    if current == "'", let end = contraction(scalars, at: start, caseInsensitive: true) { return end }
    // `[^\r\n\p{L}\p{N}]?\p{L}+`
    if kind.isLetter { return run(classes, from: start) { $0.isLetter } }
    if !kind.isNumber && !kind.isNewline && start + 1 < count && classes[start + 1].isLetter {
      return run(classes, from: start + 1) { $0.isLetter }
    }
    // `\p{N}{1,n}`
    if kind.isNumber {
      var end = start
      while end < count && end - start < maximumDigits && classes[end].isNumber { end += 1 }
      return end
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    var body = start
    if current == " " && start + 1 < count && classes[start + 1].isOther { body = start + 1 }
    if classes[body].isOther {
      let end = run(classes, from: body) { $0.isOther }
      return run(classes, from: end) { $0.isNewline }
    }
    // `\s*[\r\n]+`: up to the last \r or \n of the whitespace run.
    let runEnd = run(classes, from: start) { $0.isWhitespace }
    var last = runEnd - 1
    while last >= start && !classes[last].isNewline { last -= 1 }
    if last >= start { return last + 1 }
    return whitespace(classes, at: start)
  }

  // MARK: - Shared pieces

  /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive (Unicode case folding: `ſ` folds to `s`).
  private func contraction(_ scalars: [Unicode.Scalar], at start: Int, caseInsensitive: Bool) -> Int? {
    func letter(_ offset: Int) -> Unicode.Scalar? {
      guard start + offset < scalars.count else { return nil }
      let scalar = scalars[start + offset]
      guard caseInsensitive else { return scalar }
      if scalar == "\u{17F}" { return "s" }
      if ("A"..."Z").contains(scalar), let lower = Unicode.Scalar(scalar.value + 32) { return lower }
      return scalar
    }
    switch letter(1) {
    case "s", "t", "m", "d": return start + 2
    case "r", "v": return letter(2) == "e" ? start + 3 : nil
    case "l": return letter(2) == "l" ? start + 3 : nil
    default: return nil
    }
  }

  /// `\s+(?!\S)|\s+` at a whitespace scalar.
  private func whitespace(_ classes: [ScalarClass], at start: Int) -> Int {
    let end = run(classes, from: start) { $0.isWhitespace }
    if end == classes.count { return end }
    // Followed by a non-space: give the last space back unless that leaves nothing.
    return end - 1 > start ? end - 1 : end
  }

  private func run(_ classes: [ScalarClass], from start: Int, while predicate: (ScalarClass) -> Bool) -> Int {
    var end = start
    while end < classes.count && predicate(classes[end]) { end += 1 }
    return end
  }
}

/// What the split patterns ask of a scalar.
struct ScalarClass: Sendable {
  private let bits: UInt8
  private static let letter: UInt8 = 1
  private static let number: UInt8 = 2
  private static let space: UInt8 = 4
  private static let newline: UInt8 = 8

  var isLetter: Bool { bits & Self.letter != 0 }
  var isNumber: Bool { bits & Self.number != 0 }
  var isWhitespace: Bool { bits & Self.space != 0 }
  /// `\r` or `\n`.
  var isNewline: Bool { bits & Self.newline != 0 }
  /// `[^\s\p{L}\p{N}]`.
  var isOther: Bool { bits & (Self.letter | Self.number | Self.space) == 0 }

  private static let ascii: [UInt8] = (0..<128).map { value -> UInt8 in
    switch value {
    case 10, 13: return space | newline
    case 9, 11, 12, 32: return space
    case 48...57: return number
    case 65...90, 97...122: return letter
    default: return 0
    }
  }

  init(_ scalar: Unicode.Scalar) {
    if scalar.value < 128 {
      bits = Self.ascii[Int(scalar.value)]
      return
    }
    let properties = scalar.properties
    if properties.isWhitespace {
      bits = Self.space
      return
    }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: bits = Self.letter
    case .decimalNumber, .letterNumber, .otherNumber: bits = Self.number
    default: bits = 0
    }
  }
}
