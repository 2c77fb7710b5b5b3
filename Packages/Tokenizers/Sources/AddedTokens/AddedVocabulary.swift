/// Finds added tokens in text: leftmost match first, the longest token at that position.
struct AddedTokenMatcher: Sendable {
  private struct Node: Sendable {
    var children: [UInt8: Int32] = [:]
    /// Index into `tokens` of the token ending here, or -1.
    var token: Int32 = -1
  }

  private var nodes = [Node()]
  private var firstBytes = [Bool](repeating: false, count: 256)
  let tokens: [AddedToken]
  /// The text each token is matched as (its content, normalized for `normalized` tokens).
  private let patterns: [String]

  init(tokens: [AddedToken], patterns: [String]) {
    self.tokens = tokens
    self.patterns = patterns
    for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
      var node = 0
      for byte in pattern.utf8 {
        if let child = nodes[node].children[byte] {
          node = Int(child)
        } else {
          nodes.append(Node())
          nodes[node].children[byte] = Int32(nodes.count - 1)
          node = nodes.count - 1
        }
      }
      if nodes[node].token < 0 { nodes[node].token = Int32(index) }
      if let first = pattern.utf8.first { firstBytes[Int(first)] = true }
    }
  }

  var isEmpty: Bool { nodes.count == 1 }

  /// Splits text into runs of plain text (`nil` token) and matched tokens, as `AddedVocabulary::find_matches`.
  func split(_ text: Substring) -> [(text: Substring, token: AddedToken?)] {
    if isEmpty || text.isEmpty { return [(text, nil)] }
    let bytes = Array(text.utf8)
    var result: [(Substring, AddedToken?)] = []
    var plainStart = 0
    var position = 0
    func index(_ offset: Int) -> String.Index { text.utf8.index(text.startIndex, offsetBy: offset) }
    while position < bytes.count {
      guard firstBytes[Int(bytes[position])] else {
        position += 1
        continue
      }
      // The longest token starting here.
      var node = 0
      var found: (token: Int, end: Int)?
      var cursor = position
      while cursor < bytes.count, let child = nodes[node].children[bytes[cursor]] {
        node = Int(child)
        cursor += 1
        if nodes[node].token >= 0 { found = (Int(nodes[node].token), cursor) }
      }
      guard let (tokenIndex, matchEnd) = found else {
        position += 1
        continue
      }
      let token = tokens[tokenIndex]
      var start = position
      var end = matchEnd
      if token.singleWord {
        let before = start == 0 ? nil : text[..<index(start)].unicodeScalars.last
        let after = end == bytes.count ? nil : text[index(end)...].unicodeScalars.first
        if before.map(isWordCharacter) == true || after.map(isWordCharacter) == true {
          position += 1
          continue
        }
      }
      if token.leftStrip {
        var newStart = start
        let scalars = text[..<index(start)].unicodeScalars
        var cursorIndex = scalars.endIndex
        while cursorIndex != scalars.startIndex {
          let previous = scalars.index(before: cursorIndex)
          guard scalars[previous].properties.isWhitespace else { break }
          cursorIndex = previous
        }
        newStart = text.utf8.distance(from: text.startIndex, to: cursorIndex)
        start = max(newStart, plainStart)
      }
      if token.rightStrip {
        let scalars = text[index(end)...].unicodeScalars
        var cursorIndex = scalars.startIndex
        while cursorIndex != scalars.endIndex && scalars[cursorIndex].properties.isWhitespace {
          cursorIndex = scalars.index(after: cursorIndex)
        }
        end = text.utf8.distance(from: text.startIndex, to: cursorIndex)
      }
      if plainStart < start { result.append((text[index(plainStart)..<index(start)], nil)) }
      result.append((text[index(start)..<index(end)], token))
      plainStart = end
      position = max(end, matchEnd)
    }
    if plainStart < bytes.count { result.append((text[index(plainStart)...], nil)) }
    return result
  }
}

/// `is_alphanumeric() || c == '_'` in the Rust library.
private func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
  if scalar == "_" { return true }
  let properties = scalar.properties
  if properties.isAlphabetic { return true }
  switch properties.generalCategory {
  case .decimalNumber, .letterNumber, .otherNumber: return true
  default: return false
  }
}
