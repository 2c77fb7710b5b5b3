import Foundation
import MetalEmulator
import MetalKernels
import QuantCore
import TestSupport
import Testing

@Suite("Dispatch plan and backend")
struct DispatchPlanTests {
  private func weights(_ variant: LayoutVariant, rows: Int, columns: Int) throws -> PreparedWeights {
    try PreparedWeights(variant.weights(rows: rows, columns: columns, seed: 1))
  }

  @Test("M ≤ 8 runs GEMV over ceil(N/8) × M groups of 64 threads; larger M runs 32×32-tiled GEMM")
  func kernelChoice() throws {
    let prepared = try weights(.nf4Blocksize64, rows: 37, columns: 256)
    let gemv = try KernelDispatchPlan.linear(prepared, tokens: 8, activation: .float16, hasBias: true)
    #expect(gemv.functionName == "gemv_cb4_bs64_f16")
    #expect(gemv.threadgroups == KernelGridSize(5, 1, 8))
    #expect(gemv.threadsPerThreadgroup == KernelGridSize(64))
    #expect(gemv.arguments.tokens == 8 && gemv.arguments.hasBias == 1)
    let gemm = try KernelDispatchPlan.linear(prepared, tokens: 33, activation: .bfloat16, hasBias: false)
    #expect(gemm.functionName == "gemm_cb4_bf16")
    #expect(gemm.threadgroups == KernelGridSize(2, 2, 1))
    #expect(gemm.threadsPerThreadgroup == KernelGridSize(128))
    let small = try KernelDispatchPlan.linear(
      try weights(.nf4Blocksize32, rows: 8, columns: 64), tokens: 1, activation: .float32, hasBias: false)
    #expect(small.functionName == "gemv_cb4_bs32_f32")
    let generic = try KernelDispatchPlan.linear(
      try weights(.nf4NestedBlocksize256, rows: 8, columns: 256), tokens: 2, activation: .float32, hasBias: false)
    #expect(generic.functionName == "gemv_cb4_f32")
    #expect(throws: QuantError.self) {
      try KernelDispatchPlan.linear(prepared, tokens: 1, activation: .int8, hasBias: false)
    }
    #expect(throws: QuantError.self) {
      try KernelDispatchPlan.linear(prepared, tokens: 0, activation: .float16, hasBias: false)
    }
  }

  @Test("dequantize runs 8 elements per thread in groups of 256")
  func dequantizePlan() throws {
    let prepared = try weights(.int8Rowwise, rows: 5, columns: 1000)
    let plan = try KernelDispatchPlan.dequantize(prepared, to: .bfloat16)
    #expect(plan.functionName == "dequantize_int8_bf16")
    #expect(plan.threadgroups == KernelGridSize(3))
    #expect(plan.arguments.elementCount == 5000)
  }

  @Test("the 16-column fast path is chosen only when every chunk stays in one block or tile")
  func vectorizedFlag() throws {
    #expect(try weights(.nf4Blocksize64, rows: 3, columns: 96).arguments.vectorized == 1)
    #expect(try weights(.nf4Blocksize64, rows: 3, columns: 100).arguments.vectorized == 0)
    #expect(try weights(.fp8E5M2Tiles, rows: 3, columns: 64).arguments.vectorized == 1)
    #expect(try weights(.fp8E4M3NarrowTiles, rows: 3, columns: 48).arguments.vectorized == 0)
    let nested = try weights(.nf4NestedBlocksize64, rows: 4, columns: 64)
    #expect(nested.arguments.nested == 1 && nested.arguments.nestedBlocksize == 256)
    #expect(nested.buffers[.nestedAbsmax] != nil && nested.buffers[.nestedCodebook] != nil)
  }

  @Test(
    "the Swift argument block and the shaders' QuantArgs agree field by field",
    .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
  func argumentLayout() throws {
    let echo = """
      #include <metal_stdlib>
      using namespace metal;
      kernel void echo_arguments(constant QuantArgs& args [[buffer(8)]], device uint* out [[buffer(6)]],
                                 uint tid [[thread_position_in_grid]]) {
        if (tid == 0u) {
          out[0] = args.rows; out[1] = args.columns; out[2] = args.tokens; out[3] = args.blocksize;
          out[4] = args.nested; out[5] = args.nestedBlocksize; out[6] = as_type<uint>(args.nestedOffset);
          out[7] = args.scaleRows; out[8] = args.scaleColumns; out[9] = args.scaleGridColumns;
          out[10] = args.fp8Format; out[11] = args.hasBias; out[12] = args.vectorized; out[13] = args.elementCount;
          out[14] = uint(sizeof(QuantArgs));
        }
      }
      """
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("mtlemu-echo-arguments.metal")
    try Data(echo.utf8).write(to: file)
    let common = try MetalShaderSource.fileURLs()[0]
    let library = try EmulatedLibrary.compile(sources: [common, file])
    var arguments = QuantKernelArguments()
    let values: [UInt32] = [3, 5, 7, 11, 13, 17, 0, 19, 23, 29, 31, 37, 41, 43]
    (arguments.rows, arguments.columns, arguments.tokens, arguments.blocksize) = (3, 5, 7, 11)
    (arguments.nested, arguments.nestedBlocksize, arguments.nestedOffset) = (13, 17, 0.75)
    (arguments.scaleRows, arguments.scaleColumns, arguments.scaleGridColumns) = (19, 23, 29)
    (arguments.fp8Format, arguments.hasBias, arguments.vectorized, arguments.elementCount) = (31, 37, 41, 43)
    let output = try EmulatedBuffer(length: 64)
    try library.dispatchThreadgroups(
      "echo_arguments", threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(1),
      bindings: [.bytes(arguments.bytes, index: 8), .buffer(output, index: 6)])
    var expected = values
    expected[6] = Float(0.75).bitPattern
    expected.append(UInt32(arguments.bytes.count))
    #expect(output.read(UInt32.self, count: 15) == expected)
  }

  @Test("the metal backend registers everywhere and says it is unavailable off Apple platforms")
  func backend() throws {
    let registry = QuantRegistry()
    try MetalBackendPlugin().register(into: registry)
    let backend = MetalBackend()
    #expect(backend.name == "metal")
    let tensor = try LayoutVariant.nf4Blocksize64.weights(rows: 2, columns: 64, seed: 3)
    #expect(backend.accelerates(tensor.layout))
    #if !canImport(Metal)
      #expect(!backend.isAvailable)
      #expect(throws: QuantError.self) { try backend.dequantize(tensor, to: .float16) }
      // The reason travels to the registry's error (and `bnb-patch formats`).
      let reason = try #require(backend.unavailableReason)
      #expect(reason.contains("Apple"))
      #expect(throws: RegistryError.backendUnavailable("metal", available: [], reason: reason)) {
        try registry.backend(named: "metal")
      }
    #else
      #expect(backend.isAvailable == (backend.unavailableReason == nil))
    #endif
  }

  @Test("encode delegates to the encoder backend given at creation, and declines without one")
  func encodeDelegates() throws {
    let values: [Float] = [1, -2, 3, -4]
    var codes = [Int8](repeating: 0, count: 4)
    var scale = [Float](repeating: 0, count: 1)
    let recorder = RecordingEncoder()
    let (delegated, declined) = values.withUnsafeBufferPointer { input in
      codes.withUnsafeMutableBufferPointer { codes in
        scale.withUnsafeMutableBufferPointer { scale in
          let request = EncodingRequest.int8Rowwise(values: input, rows: 1, columns: 4, codes: codes, rowScale: scale)
          return (MetalBackend(encoder: recorder).encode(request), MetalBackend().encode(request))
        }
      }
    }
    #expect(delegated && !declined)
    #expect(recorder.calls.withLock { $0 } == ["int8-rowwise"])
  }

  @Test("dense layers run on the encoder backend given at creation, else on the reference loops")
  func denseLinearDelegates() throws {
    let input = try Tensor(converting: (0..<12).map { Float($0) / 7 - 0.5 }, to: .bfloat16, shape: [3, 4])
    let weight = try Tensor(converting: (0..<20).map { Float($0 % 7) / 3 - 1 }, to: .float16, shape: [5, 4])
    let reference = try ReferenceBackend().denseLinear(input, weight: weight, bias: nil)
    let recorder = RecordingEncoder()
    #expect(try MetalBackend(encoder: recorder).denseLinear(input, weight: weight, bias: nil).bytes == reference.bytes)
    #expect(recorder.calls.withLock { $0 } == ["dense"])
    #expect(try MetalBackend().denseLinear(input, weight: weight, bias: nil).bytes == reference.bytes)
  }

  @Test("the input gradient runs the tiled kernel over ceil(K/32) × ceil(M/32) groups for every M")
  func inputGradientPlan() throws {
    let prepared = try weights(.int8Rowwise, rows: 37, columns: 100)
    for (tokens, dtype, suffix) in [(1, DType.float32, "f32"), (33, .bfloat16, "bf16")] {
      let dispatch = try KernelDispatchPlan.inputGradient(prepared, tokens: tokens, activation: dtype)
      #expect(dispatch.functionName == "gemm_input_gradient_int8_\(suffix)")
      #expect(dispatch.threadgroups == KernelGridSize(4, (tokens + 31) / 32))
      #expect(dispatch.threadsPerThreadgroup == KernelGridSize(128))
      #expect(dispatch.arguments.tokens == UInt32(tokens) && dispatch.arguments.hasBias == 0)
    }
    #expect(throws: QuantError.self) { try KernelDispatchPlan.inputGradient(prepared, tokens: 0, activation: .float32) }
    #expect(throws: QuantError.self) { try KernelDispatchPlan.inputGradient(prepared, tokens: 2, activation: .int8) }
  }
}

/// A backend whose encoder records the layouts it is asked for and claims success.
private final class RecordingEncoder: KernelBackend, @unchecked Sendable {
  let calls = Locked<[String]>([])
  var name: String { "recording" }
  var isAvailable: Bool { true }
  func accelerates(_ layout: StorageLayout) -> Bool { false }
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    try ReferenceBackend().dequantize(tensor, to: dtype)
  }
  func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    try ReferenceBackend().linear(input, weight: weight, bias: bias)
  }
  func encode(_ request: EncodingRequest) -> Bool {
    calls.withLock { $0.append(request.layoutKind) }
    return true
  }
  func denseLinear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws(QuantError) -> Tensor {
    calls.withLock { $0.append("dense") }
    return try ReferenceBackend().denseLinear(input, weight: weight, bias: bias)
  }
}
