// Compute pipelines, created once per kernel name (Apple platforms only).
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// Compute pipeline states by kernel host name; thread-safe.
  final class PipelineCache: @unchecked Sendable {
    private let device: MTLDevice
    private let library: MTLLibrary
    private let pipelines = Locked<[String: MTLComputePipelineState]>([:])

    init(device: MTLDevice, library: MTLLibrary) {
      self.device = device
      self.library = library
    }

    /// The pipeline of kernel `name`, created on first request.
    ///
    /// - Parameter name: The kernel's host name.
    /// - Returns: The pipeline state.
    /// - Throws: `QuantError.invalidState` when the library has no such kernel, the pipeline fails, or
    ///   the GPU runs it with SIMD-groups other than 32 lanes wide.
    func pipeline(_ name: String) throws(QuantError) -> MTLComputePipelineState {
      if let pipeline = pipelines.withLock({ $0[name] }) { return pipeline }
      guard let function = library.makeFunction(name: name) else {
        throw .invalidState("the Metal library has no kernel named \(name)")
      }
      let pipeline: MTLComputePipelineState
      do {
        pipeline = try device.makeComputePipelineState(function: function)
      } catch {
        throw .invalidState("cannot create the pipeline of \(name): \(error.localizedDescription)")
      }
      guard pipeline.threadExecutionWidth == MetalDeviceContext.requiredSIMDWidth else {
        throw .invalidState(
          "\(name) runs with threadExecutionWidth \(pipeline.threadExecutionWidth) on \(device.name); "
            + "the kernels need \(MetalDeviceContext.requiredSIMDWidth)-wide SIMD-groups")
      }
      return pipelines.withLock { cached in
        if let existing = cached[name] { return existing }
        cached[name] = pipeline
        return pipeline
      }
    }
  }
#endif
