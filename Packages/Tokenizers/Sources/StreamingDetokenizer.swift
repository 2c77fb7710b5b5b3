/// Decodes ids one at a time, as a model generates them, and hands out text only once it is complete UTF-8.
///
/// Byte-fallback (`<0xE2>`) and byte-level tokens may split a character; such bytes are held back until the
/// character is complete. The pieces returned by ``append(_:)`` and ``finish()``, concatenated, equal
/// `tokenizer.decode(ids, skipSpecialTokens:)` of all the ids, byte for byte.
///
/// ```swift
/// var stream = tokenizer.makeStreamingDetokenizer()
/// for id in generatedIDs { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDetokenizer: Sendable {
  private let tokenizer: Tokenizer
  private let skipSpecialTokens: Bool
  private var ids: [Int] = []
  /// Where the window that is decoded again starts (its text up to `readOffset` was already handed out).
  private var prefixOffset = 0
  private var readOffset = 0

  /// Creates a detokenizer.
  ///
  /// - Parameters:
  ///   - tokenizer: The tokenizer.
  ///   - skipSpecialTokens: Whether special added tokens are left out, as in `decode`.
  public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
    self.tokenizer = tokenizer
    self.skipSpecialTokens = skipSpecialTokens
  }

  /// All ids appended so far.
  public var allIDs: [Int] { ids }

  /// Appends an id.
  ///
  /// - Parameter id: The next token id.
  /// - Returns: The new complete text (often empty while a character is incomplete).
  public mutating func append(_ id: Int) -> String {
    ids.append(id)
    // A byte-fallback run is decoded as a whole (an invalid run becomes one U+FFFD per byte), so text is only
    // handed out after a token that is not a byte token.
    if let token = tokenizer.token(for: id), Decoder.fallbackByte(token) != nil, tokenizer.usesByteFallback { return "" }
    let window = Array(ids[prefixOffset...])
    let previous = Array(tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens).utf8)
    let current = Array(tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens).utf8)
    // Hold back while the text ends in U+FFFD (an incomplete character) or does not extend what was handed out.
    guard current.count > previous.count, current.starts(with: previous), !current.ends(with: [0xEF, 0xBF, 0xBD]) else {
      return ""
    }
    prefixOffset = readOffset
    readOffset = ids.count
    return String(decoding: current[previous.count...], as: UTF8.self)
  }

  /// Hands out what is held back (incomplete characters become U+FFFD, as `decode` makes them).
  ///
  /// - Returns: The remaining text.
  public mutating func finish() -> String {
    let previous = Array(tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens).utf8)
    let current = Array(tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens).utf8)
    prefixOffset = ids.count
    readOffset = ids.count
    guard current.count >= previous.count, current.starts(with: previous) else {
      return String(decoding: current, as: UTF8.self)
    }
    return String(decoding: current[previous.count...], as: UTF8.self)
  }
}

extension Tokenizer {
  /// A streaming detokenizer for this tokenizer.
  ///
  /// - Parameter skipSpecialTokens: Whether special added tokens are left out.
  /// - Returns: The detokenizer.
  public func makeStreamingDetokenizer(skipSpecialTokens: Bool = false) -> StreamingDetokenizer {
    StreamingDetokenizer(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
  }
}

extension Array where Element == UInt8 {
  fileprivate func ends(with suffix: [UInt8]) -> Bool {
    count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
  }
}
