public import QuantCore

/// Calls collected by ``MetalBackend/batch(_:)`` and run in one Metal command buffer.
///
/// Each call validates its arguments and encodes its dispatch at once; results exist only after the
/// batch has run, in call order. Custom layouts (no shader) are computed by the reference backend when
/// called. Not thread-safe: use a batch from one thread.
public final class MetalBatch {
  private enum Slot {
    case gpu(Int)
    case ready(Tensor)
  }

  private let commands: MetalCommandBatch
  private var slots: [Slot] = []

  init() throws(QuantError) {
    commands = try MetalCommandBatch()
  }

  /// Adds a dequantize (see ``MetalBackend/dequantize(_:to:)``).
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - dtype: `float32`, `float16` or `bfloat16`.
  /// - Returns: The index of the result.
  /// - Throws: `QuantError` for inconsistent data or an unsupported dtype.
  @discardableResult
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Int {
    if KernelLayoutFamily(tensor.layout) == nil {
      slots.append(.ready(try ReferenceBackend().dequantize(tensor, to: dtype)))
    } else {
      slots.append(.gpu(try commands.dequantize(tensor, to: dtype)))
    }
    return slots.count - 1
  }

  /// Adds `input · weightᵀ + bias` (see ``MetalBackend/linear(_:weight:bias:)``).
  ///
  /// - Parameters:
  ///   - input: Activations `[..., K]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`.
  ///   - bias: Optional `[N]`.
  /// - Returns: The index of the result.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  @discardableResult
  public func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Int {
    if KernelLayoutFamily(weight.layout) == nil {
      slots.append(.ready(try ReferenceBackend().linear(input, weight: weight, bias: bias)))
    } else {
      slots.append(.gpu(try commands.linear(input, weight: weight, bias: bias)))
    }
    return slots.count - 1
  }

  /// Adds `outputGradient · weight`, the input gradient of `linear` (see
  /// ``MetalBackend/linearInputGradient(_:weight:)``).
  ///
  /// - Parameters:
  ///   - outputGradient: `[..., N]` in float32, float16 or bfloat16.
  ///   - weight: Quantized weights `[N, K]`.
  /// - Returns: The index of the result.
  /// - Throws: `QuantError` on shape or dtype mismatches.
  @discardableResult
  public func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Int {
    if KernelLayoutFamily(weight.layout) == nil {
      slots.append(.ready(try ReferenceBackend().linearInputGradient(outputGradient, weight: weight)))
    } else {
      slots.append(.gpu(try commands.inputGradient(outputGradient, weight: weight)))
    }
    return slots.count - 1
  }

  /// Commits, waits and returns the results in call order.
  func run() throws(QuantError) -> [Tensor] {
    let gpu = try commands.finish()
    return slots.map { slot in
      switch slot {
      case .gpu(let index): gpu[index]
      case .ready(let tensor): tensor
      }
    }
  }
}
