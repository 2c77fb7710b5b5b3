/// A place in a template's source: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
  /// The 1-based line.
  public var line: Int
  /// The 1-based column.
  public var column: Int

  /// A location.
  public init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }

  /// `line:column`.
  public var description: String { "\(line):\(column)" }
}

/// Why a chat template could not be parsed, chosen or rendered.
public enum ChatTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The template text is not valid Jinja: what was found at which place.
  case syntax(message: String, location: SourceLocation)
  /// Rendering failed (an unknown filter, an undefined value used where jinja2 fails, a wrong type).
  case render(message: String, location: SourceLocation)
  /// The template called `raise_exception(message)`; `message` is exactly its argument.
  case raised(message: String)
  /// `tokenizer_config.json` has no usable `chat_template` (or none with the requested name).
  case templateNotFound(String)
  /// The conversation to render is malformed (not a list of message objects): which file, what is wrong.
  case invalidRequest(String)

  /// A one-line explanation.
  public var description: String {
    switch self {
    case .syntax(let message, let location): "chat template syntax error at \(location): \(message)"
    case .render(let message, let location): "chat template error at \(location): \(message)"
    case .raised(let message): message
    case .templateNotFound(let message): message
    case .invalidRequest(let message): message
    }
  }
}
