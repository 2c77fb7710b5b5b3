extension Tokenizer {
  /// Encodes text into token ids.
  ///
  /// - Parameters:
  ///   - text: The text.
  ///   - addSpecialTokens: Whether the post-processor adds its special tokens (BOS and friends).
  /// - Returns: The ids.
  public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
    var ids: [Int] = []
    ids.reserveCapacity(text.utf8.count / 3 + 4)
    let whole = text[...]
    for (piece, token) in rawMatcher.split(whole) {
      if let token {
        ids.append(token.id)
        continue
      }
      if piece.isEmpty { continue }
      let atOrigin = piece.startIndex == whole.startIndex
      let normalized = normalizer.map { $0.normalize(String(piece)) } ?? String(piece)
      for (part, normalizedToken) in normalizedMatcher.split(normalized[...]) {
        if let normalizedToken {
          ids.append(normalizedToken.id)
          continue
        }
        if part.isEmpty { continue }
        let start = TextPiece(text: part, atOrigin: atOrigin && part.startIndex == normalized.startIndex)
        let pieces = preTokenizer?.preTokenize([start]) ?? [start]
        for piece in pieces { model.tokenize(piece.text, into: &ids) }
      }
    }
    if addSpecialTokens, let postProcessor { return postProcessor.process(ids) }
    return ids
  }

  /// Encodes text and returns the token texts instead of ids.
  ///
  /// - Parameters:
  ///   - text: The text.
  ///   - addSpecialTokens: Whether the post-processor adds its special tokens.
  /// - Returns: The tokens (`["<s>", "▁Hello"]`).
  public func tokens(for text: String, addSpecialTokens: Bool = true) -> [String] {
    encode(text, addSpecialTokens: addSpecialTokens).map { tokensByID[$0] ?? "" }
  }

  /// Decodes token ids into text.
  ///
  /// - Parameters:
  ///   - ids: The ids; ids outside the vocabulary are skipped, as transformers does.
  ///   - skipSpecialTokens: Whether special added tokens are left out.
  /// - Returns: The text.
  public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
    var tokens: [String] = []
    tokens.reserveCapacity(ids.count)
    for id in ids {
      guard let token = tokensByID[id] else { continue }
      if skipSpecialTokens && specialIDs.contains(id) { continue }
      tokens.append(token)
    }
    guard let decoder else { return tokens.joined(separator: " ") }
    return decoder.decode(tokens)
  }
}
