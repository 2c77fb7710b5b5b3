import MetalEmulator
import MetalKernels
import Testing

@Suite("Shader library", .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
struct ShaderLibraryTests {
  @Test("the shipped shaders compile in the emulator and export every planned kernel")
  func compiles() throws {
    let kernels = try EmulatedKernels.shared()
    let names = Set(kernels.library.functionNames)
    for family in KernelLayoutFamily.allCases {
      for suffix in ["f32", "f16", "bf16"] {
        #expect(names.contains("dequantize_\(family.rawValue)_\(suffix)"))
        #expect(names.contains("gemv_\(family.rawValue)_\(suffix)"))
        #expect(names.contains("gemm_\(family.rawValue)_\(suffix)"))
        #expect(names.contains("gemm_input_gradient_\(family.rawValue)_\(suffix)"))
      }
    }
    for blocksize in KernelDispatchPlan.specializedBlocksizes {
      #expect(names.contains("gemv_cb4_bs\(blocksize)_f16"))
    }
  }

  @Test(
    "the shipped shaders, translated for macOS, compile as arm64-apple-macos15 and x86_64-apple-macos15 C++",
    arguments: ["arm64-apple-macos15", "x86_64-apple-macos15"])
  func crossTarget(triple: String) throws {
    let output = try EmulatorCrossCheck.compileKernels(
      sources: try MetalShaderSource.fileURLs(), triple: triple, objectFormat: .machO)
    #expect(output.contains("section(\"__DATA,mtlemu_tg\")"))
    #expect(!output.contains("section(\"mtlemu_tg\")"))
  }
}
