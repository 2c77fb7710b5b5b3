// Encoding and running one kernel dispatch (Apple platforms only). Linux: MetalExecution+Unavailable.swift.
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// Runs kernel dispatches on the GPU.
  enum MetalExecution {
    /// Whether a device exists and the shaders compiled.
    static var isAvailable: Bool {
      if case .success = MetalDeviceContext.shared { return true }
      return false
    }

    /// Encodes `dispatch` with the weights' buffers, runs it and waits for the result.
    ///
    /// - Parameters:
    ///   - dispatch: The kernel, grid and arguments (from ``KernelDispatchPlan``).
    ///   - weights: The prepared weights.
    ///   - input: Activations for GEMV/GEMM, `nil` for dequantize.
    ///   - bias: float32 bias, if any.
    ///   - outputDType: The output dtype.
    ///   - outputShape: The output shape.
    /// - Returns: The output tensor.
    /// - Throws: `QuantError` when Metal is unavailable or the command fails.
    static func run(
      _ dispatch: KernelDispatch, weights: PreparedWeights, input: Tensor?, bias: [Float]?, outputDType: DType,
      outputShape: [Int]
    ) throws(QuantError) -> Tensor {
      let context = try MetalDeviceContext.shared.get()
      let pipeline = try context.pipelines.pipeline(dispatch.functionName)
      let threads = dispatch.threadsPerThreadgroup
      guard threads.width * threads.height * threads.depth <= pipeline.maxTotalThreadsPerThreadgroup else {
        throw .invalidState("\(dispatch.functionName) allows \(pipeline.maxTotalThreadsPerThreadgroup) threads per group")
      }
      let outputBytes = outputShape.reduce(1, *) * outputDType.byteSize
      guard let output = context.device.makeBuffer(length: max(outputBytes, 16), options: .storageModeShared),
        let commandBuffer = context.queue.makeCommandBuffer(),
        let encoder = commandBuffer.makeComputeCommandEncoder()
      else {
        throw .invalidState("cannot encode \(dispatch.functionName)")
      }
      encoder.setComputePipelineState(pipeline)
      let weightIndices: [KernelBufferIndex] = [.weights, .scales, .codebook, .nestedAbsmax, .nestedCodebook]
      for index in weightIndices {
        let bound = try weights.buffers[index].map { (tensor) throws(QuantError) in try context.boundBuffer(for: tensor) }
        encoder.setBuffer(bound ?? BoundBuffer(buffer: context.placeholder, offset: 0), index: index)
      }
      let inputBuffer = try input.map { (tensor) throws(QuantError) in try context.boundBuffer(for: tensor) }
      encoder.setBuffer(inputBuffer ?? BoundBuffer(buffer: context.placeholder, offset: 0), index: .input)
      encoder.setBuffer(try context.boundBuffer(copying: bias ?? []), index: .bias)
      encoder.setBuffer(output, offset: 0, index: KernelBufferIndex.output.rawValue)
      let arguments = dispatch.arguments.bytes
      arguments.withUnsafeBytes { raw in
        if let start = raw.baseAddress {
          encoder.setBytes(start, length: raw.count, index: KernelBufferIndex.arguments.rawValue)
        }
      }
      let groups = dispatch.threadgroups
      encoder.dispatchThreadgroups(
        MTLSize(width: groups.width, height: groups.height, depth: groups.depth),
        threadsPerThreadgroup: MTLSize(width: threads.width, height: threads.height, depth: threads.depth))
      encoder.endEncoding()
      commandBuffer.commit()
      withExtendedLifetime((weights, input)) { commandBuffer.waitUntilCompleted() }
      if let error = commandBuffer.error {
        throw .invalidState("\(dispatch.functionName) failed on the GPU: \(error)")
      }
      return try Tensor(dtype: outputDType, shape: outputShape) { raw in
        raw.copyMemory(from: UnsafeRawBufferPointer(start: output.contents(), count: raw.count))
      }
    }
  }
#endif
