// Device and library setup for the Metal backend (Apple platforms only).
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// The Metal device, its command queue, the compiled shader library and its pipelines, created once
  /// per process on first use.
  final class MetalDeviceContext: @unchecked Sendable {
    let device: MTLDevice
    let queue: MTLCommandQueue
    let pipelines: PipelineCache
    /// Bound to indices a kernel declares but a layout does not use.
    let placeholder: MTLBuffer

    /// The process-wide context, or why none could be made.
    static let shared = Result { () throws(QuantError) -> MetalDeviceContext in try MetalDeviceContext() }

    private init() throws(QuantError) {
      guard let device = MTLCreateSystemDefaultDevice() else {
        throw .unsupportedOperation(backend: "metal", operation: "any kernel (no Metal device)")
      }
      guard let queue = device.makeCommandQueue(), let placeholder = device.makeBuffer(length: 16) else {
        throw .invalidState("cannot create a Metal command queue")
      }
      let source = try MetalShaderSource.combinedSource()
      let options = MTLCompileOptions()
      options.languageVersion = .version3_0
      // IEEE semantics: the bfloat16 store tests isnan, which fast math may fold away.
      options.mathMode = .safe
      let library: MTLLibrary
      do {
        library = try device.makeLibrary(source: source, options: options)
      } catch {
        throw .invalidState("the Metal shaders did not compile: \(error)")
      }
      self.device = device
      self.queue = queue
      self.placeholder = placeholder
      self.pipelines = PipelineCache(device: device, library: library)
    }
  }
#endif
