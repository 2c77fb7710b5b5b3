// Encoding and running kernel dispatches (Apple platforms only). Elsewhere: MetalExecution+Unavailable.swift.
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// The process-wide Metal state as the backend sees it.
  enum MetalExecution {
    /// Whether a device exists, it is an Apple GPU of family 7+, and the shaders compiled.
    static var isAvailable: Bool {
      if case .success = MetalDeviceContext.shared { return true }
      return false
    }

    /// Why Metal is unavailable (no device, GPU family, SIMD width, the compiler's log), or `nil`.
    static var unavailableReason: String? {
      if case .failure(let reason) = MetalDeviceContext.shared { return reason.description }
      return nil
    }

    /// The context, or `QuantError.unsupportedOperation` carrying the reason.
    static func context() throws(QuantError) -> MetalDeviceContext {
      switch MetalDeviceContext.shared {
      case .success(let context): return context
      case .failure(let reason): throw .unsupportedOperation(backend: "metal", operation: "any kernel (\(reason))")
      }
    }

    /// Drops the cached weight buffers and the buffer pool.
    static func clearCaches() {
      guard case .success(let context) = MetalDeviceContext.shared else { return }
      context.weights.removeAll()
      context.pool.removeAll()
    }
  }

  /// Dispatches encoded into one command buffer and one compute encoder, run together by ``finish()``.
  ///
  /// Weight buffers come from the context's cache; activations, bias and outputs from its pool (given
  /// back after completion). Every encode runs in an autorelease pool, so long CLI loops do not
  /// accumulate Objective-C temporaries.
  final class MetalCommandBatch {
    private let context: MetalDeviceContext
    private let commandBuffer: MTLCommandBuffer
    private let encoder: MTLComputeCommandEncoder
    private var outputs: [(buffer: MTLBuffer, dtype: DType, shape: [Int])] = []
    private var staging: [MTLBuffer] = []
    /// Kept until the command buffer completes: the cached buffers and the tensors whose storage the
    /// weight buffers wrap without copying.
    private var retained: [(CachedWeights, QuantizedTensor)] = []
    private var finished = false

    init() throws(QuantError) {
      let context = try MetalExecution.context()
      let made = autoreleasepool { () -> (MTLCommandBuffer, MTLComputeCommandEncoder)? in
        guard let commandBuffer = context.queue.makeCommandBuffer(),
          let encoder = commandBuffer.makeComputeCommandEncoder()
        else { return nil }
        return (commandBuffer, encoder)
      }
      guard let made else { throw .invalidState("cannot create a Metal command buffer") }
      let (commandBuffer, encoder) = made
      self.context = context
      self.commandBuffer = commandBuffer
      self.encoder = encoder
    }

    deinit {
      if !finished { encoder.endEncoding() }
    }

    /// Encodes a dequantize of `tensor`; returns the index of its result.
    func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Int {
      let weights = try context.weights.weights(for: tensor, context: context)
      let dispatch = try KernelDispatchPlan.dequantize(weights.prepared, to: dtype)
      return try encode(
        dispatch, weights: weights, tensor: tensor, input: nil, bias: nil, outputDType: dtype, outputShape: tensor.shape)
    }

    /// Encodes `input · weightᵀ + bias`; returns the index of its result.
    func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Int {
      let problem = try LinearProblem(input: input, weight: weight, bias: bias)
      let weights = try context.weights.weights(for: weight, context: context)
      let dispatch = try KernelDispatchPlan.linear(
        weights.prepared, tokens: problem.m, activation: input.dtype, hasBias: bias != nil)
      return try encode(
        dispatch, weights: weights, tensor: weight, input: input, bias: try bias?.floats(), outputDType: input.dtype,
        outputShape: problem.outputShape)
    }

    /// Encodes `outputGradient · weight` (the input gradient of `linear`); returns the index of its result.
    func inputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Int {
      let problem = try InputGradientProblem(outputGradient: outputGradient, weight: weight)
      let weights = try context.weights.weights(for: weight, context: context)
      let dispatch = try KernelDispatchPlan.inputGradient(
        weights.prepared, tokens: problem.m, activation: outputGradient.dtype)
      return try encode(
        dispatch, weights: weights, tensor: weight, input: outputGradient, bias: nil,
        outputDType: outputGradient.dtype, outputShape: problem.outputShape)
    }

    private func encode(
      _ dispatch: KernelDispatch, weights: CachedWeights, tensor: QuantizedTensor, input: Tensor?, bias: [Float]?,
      outputDType: DType,
      outputShape: [Int]
    ) throws(QuantError) -> Int {
      guard !finished else { throw .invalidState("the Metal batch has already run") }
      let result = autoreleasepool { () -> Result<Int, QuantError> in
        Result { () throws(QuantError) -> Int in
          let pipeline = try context.pipelines.pipeline(dispatch.functionName)
          let threads = dispatch.threadsPerThreadgroup
          guard threads.width * threads.height * threads.depth <= pipeline.maxTotalThreadsPerThreadgroup else {
            throw .invalidState(
              "\(dispatch.functionName) allows \(pipeline.maxTotalThreadsPerThreadgroup) threads per group")
          }
          let outputBytes = outputShape.reduce(1, *) * outputDType.byteSize
          let output = try context.pool.take(max(outputBytes, 16))
          outputs.append((output, outputDType, outputShape))
          encoder.setComputePipelineState(pipeline)
          let placeholder = BoundBuffer(buffer: context.placeholder, offset: 0)
          for index in [KernelBufferIndex.weights, .scales, .codebook, .nestedAbsmax, .nestedCodebook] {
            encoder.setBuffer(weights.buffers[index] ?? placeholder, index: index)
          }
          if let input {
            let staged = try input.withUnsafeBytes { (raw) throws(QuantError) in try context.staged(raw) }
            staging.append(staged)
            encoder.setBuffer(staged, offset: 0, index: KernelBufferIndex.input.rawValue)
          } else {
            encoder.setBuffer(placeholder, index: .input)
          }
          if let bias {
            let staged = try context.pool.take(max(bias.count * 4, 16))
            bias.withUnsafeBytes { raw in
              if let start = raw.baseAddress { staged.contents().copyMemory(from: start, byteCount: raw.count) }
            }
            staging.append(staged)
            encoder.setBuffer(staged, offset: 0, index: KernelBufferIndex.bias.rawValue)
          } else {
            encoder.setBuffer(placeholder, index: .bias)
          }
          encoder.setBuffer(output, offset: 0, index: KernelBufferIndex.output.rawValue)
          dispatch.arguments.bytes.withUnsafeBytes { raw in
            if let start = raw.baseAddress {
              encoder.setBytes(start, length: raw.count, index: KernelBufferIndex.arguments.rawValue)
            }
          }
          let groups = dispatch.threadgroups
          encoder.dispatchThreadgroups(
            MTLSize(width: groups.width, height: groups.height, depth: groups.depth),
            threadsPerThreadgroup: MTLSize(width: threads.width, height: threads.height, depth: threads.depth))
          retained.append((weights, tensor))
          return outputs.count - 1
        }
      }
      return try result.get()
    }

    /// Commits the command buffer, waits, and returns every result in encode order.
    ///
    /// - Throws: `QuantError.invalidState` when the GPU reports an error or the batch already ran.
    func finish() throws(QuantError) -> [Tensor] {
      guard !finished else { throw .invalidState("the Metal batch has already run") }
      finished = true
      encoder.endEncoding()
      commandBuffer.commit()
      commandBuffer.waitUntilCompleted()
      defer {
        for (buffer, _, _) in outputs { context.pool.give(buffer) }
        for buffer in staging { context.pool.give(buffer) }
        retained = []
      }
      if let error = commandBuffer.error {
        throw .invalidState("a Metal command buffer failed on the GPU: \(error.localizedDescription)")
      }
      var results: [Tensor] = []
      for (buffer, dtype, shape) in outputs {
        results.append(
          try Tensor(dtype: dtype, shape: shape) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: buffer.contents(), count: raw.count))
          })
      }
      return results
    }
  }
#endif
