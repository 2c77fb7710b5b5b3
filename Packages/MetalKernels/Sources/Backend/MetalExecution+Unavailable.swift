// The stand-in for platforms without Metal (Linux): same entry points, nothing runs.
// The Apple implementation is Apple/MetalExecution.swift.
#if !canImport(Metal)
  import QuantCore

  /// Runs kernel dispatches on the GPU; unavailable on this platform.
  enum MetalExecution {
    /// Always `false` here.
    static var isAvailable: Bool { false }

    /// Always throws: there is no Metal device on this platform.
    static func run(
      _ dispatch: KernelDispatch, weights: PreparedWeights, input: Tensor?, bias: [Float]?, outputDType: DType,
      outputShape: [Int]
    ) throws(QuantError) -> Tensor {
      throw .unsupportedOperation(
        backend: "metal", operation: "\(dispatch.functionName) (Metal is not available on this platform)")
    }
  }
#endif
