// The stand-in for platforms without Metal (Linux): same entry points, nothing runs.
// The Apple implementation is Apple/MetalExecution.swift.
#if !canImport(Metal)
  import QuantCore

  /// The process-wide Metal state; unavailable on this platform.
  enum MetalExecution {
    /// Always `false` here.
    static var isAvailable: Bool { false }

    /// Always says that this platform has no Metal.
    static var unavailableReason: String? { "Metal exists only on Apple platforms" }

    /// Nothing is cached here.
    static func clearCaches() {}
  }

  /// Dispatches run together; cannot be created on this platform.
  final class MetalCommandBatch {
    /// Always throws: there is no Metal device on this platform.
    init() throws(QuantError) {
      throw .unsupportedOperation(backend: "metal", operation: "any kernel (Metal exists only on Apple platforms)")
    }

    func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Int { 0 }
    func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Int { 0 }
    func inputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Int { 0 }
    func finish() throws(QuantError) -> [Tensor] { [] }
  }
#endif
