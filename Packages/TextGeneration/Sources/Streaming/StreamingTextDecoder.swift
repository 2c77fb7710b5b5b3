/// Turns generated token ids into text piece by piece, holding back bytes that do not yet form whole
/// characters (a tokenizer's streaming detokenizer conforms).
public protocol StreamingTextDecoder {
  /// Adds one token.
  ///
  /// - Parameter token: the generated id.
  /// - Returns: the text this token completes; may be empty.
  mutating func append(_ token: Int) -> String

  /// Ends the stream.
  ///
  /// - Returns: whatever text was still held back.
  mutating func finish() -> String
}
