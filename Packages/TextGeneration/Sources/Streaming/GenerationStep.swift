/// One generated token and the text it made visible.
public struct GenerationStep: Sendable, Equatable {
  /// The generated token id.
  public var token: Int
  /// The text that can be shown after this token; empty while a character or a possible stop string is
  /// incomplete, and for an end-of-sequence token.
  public var text: String
  /// Set on the last step: why the generation ended.
  public var stopReason: StopReason?

  /// Creates a step.
  ///
  /// - Parameters:
  ///     - token: the id.
  ///     - text: the visible text.
  ///     - stopReason: set on the last step.
  public init(token: Int, text: String, stopReason: StopReason? = nil) {
    self.token = token
    self.text = text
    self.stopReason = stopReason
  }
}
