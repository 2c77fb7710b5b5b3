public import QuantCore
import Synchronization

/// Counts the calls a ``CountingBackend`` receives.
public final class CallCounter: Sendable {
  private let counts = Mutex([String: Int]())

  /// Creates a counter at zero.
  public init() {}

  /// The number of calls of `operation` (`"dequantize"`, `"linear"`).
  ///
  /// - Parameter operation: The operation name.
  public func count(_ operation: String) -> Int { counts.withLock { $0[operation, default: 0] } }

  func record(_ operation: String) { counts.withLock { $0[operation, default: 0] += 1 } }
}

/// A kernel backend that counts calls and delegates the work to another backend: the smallest
/// example of a backend plugin.
public struct CountingBackend: KernelBackend {
  /// The backend doing the work.
  public let delegate: any KernelBackend
  /// Where calls are counted.
  public let counter: CallCounter

  /// Wraps a backend.
  ///
  /// - Parameters:
  ///   - delegate: The backend doing the work.
  ///   - counter: Where calls are counted.
  public init(delegate: any KernelBackend, counter: CallCounter) {
    self.delegate = delegate
    self.counter = counter
  }

  /// `"counting"`.
  public var name: String { "counting" }
  /// Available when the delegate is.
  public var isAvailable: Bool { delegate.isAvailable }
  /// What the delegate accelerates.
  public func accelerates(_ layout: StorageLayout) -> Bool { delegate.accelerates(layout) }

  /// Counts, then delegates.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    counter.record("dequantize")
    return try delegate.dequantize(tensor, to: dtype)
  }

  /// Counts, then delegates.
  public func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    counter.record("linear")
    return try delegate.linear(input, weight: weight, bias: bias)
  }
}

/// Registers a ``CountingBackend`` named `counting` that wraps an already registered backend.
public struct CountingBackendPlugin: QuantPlugin {
  /// The name of the backend to wrap (`"cpu"`, or `"auto"` for the registry's preference).
  public var delegateName: String
  /// Where calls are counted.
  public var counter: CallCounter

  /// Creates the plugin.
  ///
  /// - Parameters:
  ///   - delegateName: The backend to wrap.
  ///   - counter: Where calls are counted.
  public init(delegateName: String = "auto", counter: CallCounter = CallCounter()) {
    self.delegateName = delegateName
    self.counter = counter
  }

  /// `"counting-backend"`.
  public var name: String { "counting-backend" }

  /// Looks up the delegate and registers the wrapper.
  public func register(into registry: QuantRegistry) throws(RegistryError) {
    try registry.register(CountingBackend(delegate: registry.backend(named: delegateName), counter: counter))
  }
}
