package import QuantCore

/// One projection of a decoder block, `y = x · Wᵀ + b` over float32 rows, whatever the weight's storage.
///
/// The runtime's linears are named by their module path (`model.layers.0.self_attn.q_proj`), the key a
/// ``LinearAdapter`` is registered under.
package protocol LinearLayer: Sendable {
  /// The module path (the checkpoint key without `.weight`).
  var name: String { get }
  /// Input features `K`.
  var inFeatures: Int { get }
  /// Output features `N`.
  var outFeatures: Int { get }
  /// How the weight is stored, for memory accounting.
  var storage: WeightStorage { get }

  /// Computes `rows` outputs.
  ///
  /// - Parameters:
  ///   - input: `[rows, inFeatures]` float32.
  ///   - rows: The number of rows.
  ///   - output: Receives `[rows, outFeatures]`.
  ///   - backend: Where the product runs.
  func apply(
    _ input: UnsafeBufferPointer<Float>, rows: Int, into output: UnsafeMutableBufferPointer<Float>,
    backend: any KernelBackend
  ) throws(LanguageModelError)
}

/// An additive term on one projection's output, `y += f(x)`: the hook a LoRA adapter plugs into.
///
/// Registered on a model with ``LanguageModel/setAdapter(_:for:)`` under the projection's module path.
public protocol LinearAdapter: Sendable {
  /// Adds the adapter's contribution to a projection's output.
  ///
  /// - Parameters:
  ///   - input: The projection's input `[rows, inFeatures]`.
  ///   - rows: The number of rows.
  ///   - output: The projection's output `[rows, outFeatures]`, to add to.
  func addDelta(input: UnsafeBufferPointer<Float>, rows: Int, output: UnsafeMutableBufferPointer<Float>)

  /// The projection shape the adapter was made for, checked when it is attached (`nil`: it fits any shape).
  var projectionShape: (inFeatures: Int, outFeatures: Int)? { get }
}

extension LinearAdapter {
  /// Fits any projection.
  public var projectionShape: (inFeatures: Int, outFeatures: Int)? { nil }
}

/// How one weight is stored: its format name (`bf16`, `nf4`, `int8`, …) and bytes.
public struct WeightStorage: Sendable, Equatable {
  /// The format: a registry format name for quantized weights, the dtype name for plain ones.
  public var format: String
  /// Logical parameters.
  public var parameters: Int
  /// Bytes held: values, quantization state and bias.
  public var bytes: Int

  /// Creates a record.
  ///
  /// - Parameters:
  ///   - format: Format or dtype name.
  ///   - parameters: Logical parameters.
  ///   - bytes: Bytes held.
  public init(format: String, parameters: Int, bytes: Int) {
    self.format = format
    self.parameters = parameters
    self.bytes = bytes
  }
}

/// Wraps a float32 buffer as a tensor without copying (the buffer must outlive the tensor's use).
func borrowedTensor(_ buffer: UnsafeBufferPointer<Float>, shape: [Int]) throws(QuantError) -> Tensor {
  let storage = TensorStorage(borrowing: UnsafeRawBufferPointer(buffer), release: nil)
  return try Tensor(dtype: .float32, shape: shape, storage: storage)
}

/// Copies a float32 tensor's values into `output`.
func copyFloats(of tensor: Tensor, into output: UnsafeMutableBufferPointer<Float>) {
  tensor.withUnsafeBytes { bytes in
    let count = min(output.count, bytes.count / MemoryLayout<Float>.stride)
    if count > 0, let source = bytes.baseAddress, let target = output.baseAddress {
      UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: count * MemoryLayout<Float>.stride)
    }
  }
}
