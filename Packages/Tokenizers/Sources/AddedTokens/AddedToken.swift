/// A token of `added_tokens` in `tokenizer.json`: matched in the text before the model runs.
public struct AddedToken: Sendable, Equatable {
  /// The id.
  public var id: Int
  /// The text of the token.
  public var content: String
  /// Whether `decode(skipSpecialTokens: true)` leaves it out.
  public var special: Bool
  /// Matches only when not inside a word.
  public var singleWord: Bool
  /// Swallows the whitespace on its left.
  public var leftStrip: Bool
  /// Swallows the whitespace on its right.
  public var rightStrip: Bool
  /// Matched in the normalized text rather than the raw text.
  public var normalized: Bool

  static func make(_ node: JSONNode) throws(TokenizerError) -> AddedToken {
    AddedToken(
      id: try node.required("id").int(), content: try node.required("content").string(),
      special: try node.bool("special") ?? false, singleWord: try node.bool("single_word") ?? false,
      leftStrip: try node.bool("lstrip") ?? false, rightStrip: try node.bool("rstrip") ?? false,
      normalized: try node.bool("normalized") ?? false)
  }
}
