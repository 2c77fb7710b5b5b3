/// A generation setting that cannot be used.
public enum GenerationParameterError: Error, Equatable, CustomStringConvertible {
  /// The setting named first has a value the second explains.
  case invalid(String, String)

  /// The setting and what is wrong with its value.
  public var description: String {
    switch self {
    case .invalid(let setting, let reason): "invalid \(setting): \(reason)"
    }
  }
}
