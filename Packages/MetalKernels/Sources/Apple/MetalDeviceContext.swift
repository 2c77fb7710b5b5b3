// Device and library setup for the Metal backend (Apple platforms only).
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// The Metal device, its command queue, the compiled shader library, its pipelines and the buffer
  /// caches, created once per process on first use (the shader compile is paid once).
  final class MetalDeviceContext: @unchecked Sendable {
    let device: MTLDevice
    let queue: MTLCommandQueue
    let pipelines: PipelineCache
    /// Weight-side buffers per quantized tensor (prepared once, reused on every call).
    let weights: WeightBufferCache
    /// Reusable activation, bias and output buffers.
    let pool: BufferPool
    /// Bound to indices a kernel declares but a layout does not use.
    let placeholder: MTLBuffer

    /// The SIMD-group width every kernel assumes (`simd_sum` over 32 lanes, 4 SIMD-groups per GEMM tile).
    static let requiredSIMDWidth = 32
    /// A kernel whose pipeline is created at start-up to check the SIMD-group width.
    static let probeKernel = "gemv_cb4_bs64_f32"

    /// The process-wide context, or why none could be made (printed by the registry and `bnb-patch formats`).
    static let shared = Result { () throws(MetalUnavailable) -> MetalDeviceContext in try MetalDeviceContext() }

    private init() throws(MetalUnavailable) {
      guard let device = MTLCreateSystemDefaultDevice() else { throw MetalUnavailable("no Metal device") }
      // Apple GPU family 7 (A14, M1) and later: 32-wide SIMD-groups and simdgroup_matrix. The AMD and
      // Intel GPUs of Intel Macs have other SIMD widths; the kernels would compute wrong sums there.
      guard device.supportsFamily(.apple7) else {
        throw MetalUnavailable("\(device.name) is not an Apple GPU of family 7 or later (the kernels assume Apple GPUs)")
      }
      guard let queue = device.makeCommandQueue(), let placeholder = device.makeBuffer(length: 16) else {
        throw MetalUnavailable("cannot create a Metal command queue on \(device.name)")
      }
      let source: String
      do {
        source = try MetalShaderSource.combinedSource()
      } catch {
        throw MetalUnavailable("\(error)")
      }
      let library: MTLLibrary
      do {
        library = try device.makeLibrary(source: source, options: Self.compileOptions())
      } catch {
        // The error's description carries the compiler's log (file:line: error: …).
        throw MetalUnavailable("the Metal shaders did not compile: \(error.localizedDescription)")
      }
      let pipelines = PipelineCache(device: device, library: library)
      do {
        _ = try pipelines.pipeline(Self.probeKernel)
      } catch {
        throw MetalUnavailable("\(error)")
      }
      self.device = device
      self.queue = queue
      self.placeholder = placeholder
      self.pipelines = pipelines
      self.weights = WeightBufferCache()
      self.pool = BufferPool(device: device)
    }

    /// Metal 3.0 and IEEE (safe) math: the bfloat16 store tests `isnan`, which fast math may fold away,
    /// and `scaled + offset` must not be contracted into an FMA (the reference rounds twice).
    private static func compileOptions() -> MTLCompileOptions {
      let options = MTLCompileOptions()
      if #available(macOS 13.0, iOS 16.0, tvOS 16.0, macCatalyst 16.0, *) {
        options.languageVersion = .version3_0
      }
      if #available(macOS 15.0, iOS 18.0, tvOS 18.0, visionOS 2.0, macCatalyst 18.0, *) {
        options.mathMode = .safe
      } else {
        options.fastMathEnabled = false
      }
      return options
    }
  }

  /// Why the Metal backend cannot run here.
  struct MetalUnavailable: Error, CustomStringConvertible {
    /// The reason, one line or a compiler log.
    let description: String

    init(_ description: String) { self.description = description }
  }
#endif
