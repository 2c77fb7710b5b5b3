/// A ``TensorSource`` backed by a dictionary: for tests, and for round trips that never touch a file.
public struct InMemoryTensorSource: TensorSource {
  /// The tensors, by checkpoint key.
  public var tensors: [String: Tensor]

  /// Creates a source from a dictionary.
  ///
  /// - Parameter tensors: Tensors by checkpoint key.
  public init(_ tensors: [String: Tensor] = [:]) {
    self.tensors = tensors
  }

  /// Creates a source from named tensors (a later duplicate name wins).
  ///
  /// - Parameter namedTensors: The tensors, such as a format's `checkpointTensors(for:weightName:)`.
  public init(_ namedTensors: [NamedTensor]) {
    var tensors: [String: Tensor] = [:]
    for named in namedTensors { tensors[named.name] = named.tensor }
    self.tensors = tensors
  }

  /// Every key, sorted.
  public var tensorNames: [String] { tensors.keys.sorted() }

  /// The tensor called `name`, or `nil`.
  ///
  /// - Parameter name: The checkpoint key.
  /// - Returns: The tensor, or `nil` when absent.
  public func tensor(named name: String) throws(QuantError) -> Tensor? { tensors[name] }
}
