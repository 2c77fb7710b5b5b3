import MetalEmulator
import MetalKernels
import QuantCore

/// Runs the shipped shaders in the Metal emulator, binding buffers exactly as the Metal host does.
struct EmulatedKernels {
  let library: EmulatedLibrary

  /// Where weight-side data starts inside its buffer (a multiple of 16, as the host guarantees).
  static let bindingOffset = 48

  private static let compiled = Result { try EmulatedLibrary.compile(sources: try MetalShaderSource.fileURLs()) }

  /// The shipped shaders, compiled once per test process.
  static func shared() throws -> EmulatedKernels {
    EmulatedKernels(library: try compiled.get())
  }

  /// Launches `dispatch` with `weights`' buffers, optional input and bias; returns the output bytes.
  func run(
    _ dispatch: KernelDispatch, weights: PreparedWeights, input: Tensor? = nil, bias: [Float]? = nil,
    outputBytes: Int, laneOrder: LaneOrder
  ) throws -> [UInt8] {
    let dummy = try EmulatedBuffer(length: 16)
    let output = try EmulatedBuffer(length: outputBytes, fill: 0xFF)
    var bindings: [EmulatedBinding] = [.buffer(output, index: KernelBufferIndex.output.rawValue)]
    for index in [KernelBufferIndex.weights, .scales, .codebook, .nestedAbsmax, .nestedCodebook] {
      if let tensor = weights.buffers[index] {
        // Bound at an offset inside a larger, poisoned buffer, as the Metal host binds views of
        // memory-mapped checkpoints: the kernels must index from the bound offset.
        let offset = Self.bindingOffset
        let buffer = try EmulatedBuffer(length: offset + tensor.byteCount, fill: 0xFF)
        tensor.withUnsafeBytes { raw in
          if let base = raw.baseAddress { (buffer.contents + offset).copyMemory(from: base, byteCount: raw.count) }
        }
        bindings.append(.buffer(buffer, offset: offset, index: index.rawValue))
      } else {
        bindings.append(.buffer(dummy, index: index.rawValue))
      }
    }
    bindings.append(.buffer(try input.map { try EmulatedBuffer($0.bytes) } ?? dummy, index: KernelBufferIndex.input.rawValue))
    bindings.append(.buffer(try bias.map { try EmulatedBuffer($0) } ?? dummy, index: KernelBufferIndex.bias.rawValue))
    bindings.append(.bytes(dispatch.arguments.bytes, index: KernelBufferIndex.arguments.rawValue))
    let groups = dispatch.threadgroups
    let threads = dispatch.threadsPerThreadgroup
    try library.dispatchThreadgroups(
      dispatch.functionName, threadgroups: EmulatedSize(groups.width, groups.height, groups.depth),
      threadsPerThreadgroup: EmulatedSize(threads.width, threads.height, threads.depth), bindings: bindings,
      laneOrder: laneOrder)
    return output.bytes
  }
}
