/// What a split does with the matched parts (the `behavior` of `Split`, `Punctuation` and friends).
enum SplitBehavior: String, Sendable {
  case removed = "Removed"
  case isolated = "Isolated"
  case mergedWithPrevious = "MergedWithPrevious"
  case mergedWithNext = "MergedWithNext"
  case contiguous = "Contiguous"

  static func make(_ node: JSONNode?) throws(TokenizerError) -> SplitBehavior {
    guard let node else { return .isolated }
    let name = try node.string()
    guard let behavior = SplitBehavior(rawValue: name) else {
      throw node.mismatch("one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous")
    }
    return behavior
  }

  /// Splits `text` given the ranges that matched, as `NormalizedString::split` does; empty pieces are dropped.
  func split(_ text: Substring, matches: [Range<String.Index>], invert: Bool = false) -> [Substring] {
    if text.isEmpty { return [] }
    // Every part of the text, tagged with whether it matched.
    var parts: [(range: Range<String.Index>, isMatch: Bool)] = []
    parts.reserveCapacity(matches.count * 2 + 1)
    var previous = text.startIndex
    for match in matches {
      if previous != match.lowerBound { parts.append((previous..<match.lowerBound, invert)) }
      parts.append((match, !invert))
      previous = match.upperBound
    }
    if previous != text.endIndex { parts.append((previous..<text.endIndex, invert)) }

    var pieces: [Range<String.Index>] = []
    pieces.reserveCapacity(parts.count)
    switch self {
    case .isolated:
      pieces = parts.map(\.range)
    case .removed:
      pieces = parts.filter { !$0.isMatch }.map(\.range)
    case .contiguous:
      var previousMatch = false
      for part in parts {
        if part.isMatch == previousMatch, let last = pieces.last {
          pieces[pieces.count - 1] = last.lowerBound..<part.range.upperBound
        } else {
          pieces.append(part.range)
        }
        previousMatch = part.isMatch
      }
    case .mergedWithPrevious:
      var previousMatch = false
      for part in parts {
        if part.isMatch && !previousMatch, let last = pieces.last {
          pieces[pieces.count - 1] = last.lowerBound..<part.range.upperBound
        } else {
          pieces.append(part.range)
        }
        previousMatch = part.isMatch
      }
    case .mergedWithNext:
      var previousMatch = false
      for part in parts.reversed() {
        if part.isMatch && !previousMatch, let last = pieces.last {
          pieces[pieces.count - 1] = part.range.lowerBound..<last.upperBound
        } else {
          pieces.append(part.range)
        }
        previousMatch = part.isMatch
      }
      pieces.reverse()
    }
    return pieces.compactMap { $0.isEmpty ? nil : text[$0] }
  }
}
