// The metal backend on a real Apple GPU against the reference backend. Apple platforms only: there
// is no GPU elsewhere (Linux runs the same shaders in the emulator, EmulatedKernelTests). Run with
// Metal's validation layer on (Docs/metal.md, "First run on a Mac"):
//   MTL_DEBUG_LAYER=1 MTL_SHADER_VALIDATION=1 swift test --filter MetalKernelsTests.GPUKernelTests
#if canImport(Metal) || BNB_TYPECHECK_GPU_TESTS
  import MetalKernels
  import QuantCore
  import Testing

  /// Whether the GPU suite can run, evaluated once.
  private let gpuBackend = MetalBackend()

  @Suite("Metal backend on the GPU")
  struct GPUKernelTests {
    /// Reasons that mean "this Mac has no suitable GPU" rather than "the backend is broken".
    static let hardwareReasons = ["no Metal device", "is not an Apple GPU of family 7"]

    @Test("the backend is available on Apple Silicon; otherwise the reason names the hardware")
    func available() {
      if let reason = gpuBackend.unavailableReason {
        #expect(Self.hardwareReasons.contains { reason.contains($0) }, "metal is unavailable: \(reason)")
      }
      #expect(gpuBackend.isAvailable == (gpuBackend.unavailableReason == nil))
    }

    @Test(
      "dequantize is byte-identical to the reference", .enabled(if: gpuBackend.isAvailable),
      arguments: LayoutVariant.allCases, BackendComparison.dtypes)
    func dequantize(variant: LayoutVariant, dtype: DType) throws {
      for problem in try BackendComparison(backend: gpuBackend).dequantizeProblems(variant, dtype: dtype) {
        Issue.record(Comment(rawValue: problem))
      }
    }

    @Test(
      "linear matches the reference within the documented tolerance (M = 1, 8, 9, 33)",
      .enabled(if: gpuBackend.isAvailable), arguments: LayoutVariant.allCases, BackendComparison.dtypes)
    func linear(variant: LayoutVariant, dtype: DType) throws {
      let comparison = BackendComparison(backend: gpuBackend)
      for m in BackendComparison.tokenCounts {
        for problem in try comparison.linearProblems(variant, dtype: dtype, m: m) { Issue.record(Comment(rawValue: problem)) }
      }
    }

    @Test(
      "the input gradient (dY · W, training) matches the reference within the documented tolerance (M = 1, 8, 9, 33)",
      .enabled(if: gpuBackend.isAvailable), arguments: LayoutVariant.allCases, BackendComparison.dtypes)
    func inputGradient(variant: LayoutVariant, dtype: DType) throws {
      let comparison = BackendComparison(backend: gpuBackend)
      for m in BackendComparison.tokenCounts {
        for problem in try comparison.inputGradientProblems(variant, dtype: dtype, m: m) {
          Issue.record(Comment(rawValue: problem))
        }
      }
    }

    @Test(
      "cached weight buffers give the same result on every call; a batch equals the single calls",
      .enabled(if: gpuBackend.isAvailable))
    func cachesAndBatches() throws {
      let weights = try LayoutVariant.allCases.map { try $0.weights(rows: 40, columns: 256, seed: 77) }
      let input = try randomActivations(rows: 1, columns: 256, dtype: .float16, seed: 78)
      let single = try weights.map { try gpuBackend.linear(input, weight: $0, bias: nil).bytes }
      let again = try weights.map { try gpuBackend.linear(input, weight: $0, bias: nil).bytes }
      #expect(single == again)
      let batched = try gpuBackend.batch { (batch) throws(QuantError) in
        for weight in weights { try batch.linear(input, weight: weight, bias: nil) }
        try batch.dequantize(weights[0], to: .float32)
      }
      #expect(batched.count == weights.count + 1)
      #expect(batched.prefix(weights.count).map(\.bytes) == single)
      #expect(batched.last?.bytes == (try ReferenceBackend().dequantize(weights[0], to: .float32).bytes))
      MetalBackend.clearCaches()
      #expect(try weights.map { try gpuBackend.linear(input, weight: $0, bias: nil).bytes } == single)
    }
  }
#endif
