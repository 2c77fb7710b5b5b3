import Foundation
import MetalEmulator
import Testing

/// The macOS side of the emulator, checked from any host: the translated test kernels and the
/// runtime's context switch compile for macOS (Mach-O sections, Apple's symbol prefix) and AArch64
/// Linux. Nothing here links or runs: no Apple SDK is needed, so Linux CI runs it.
@Suite(
  "Emulator cross-target compilation",
  .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
struct DarwinTargetTests {
  static let kernelFiles = ["features.metal", "buggy.metal"]

  @Test("translated kernels compile for every checked target", arguments: EmulatorCrossCheck.targets.map(\.triple))
  func kernels(triple: String) throws {
    let objectFormat = try #require(EmulatorCrossCheck.targets.first { $0.triple == triple }).objectFormat
    let directory = try #require(Bundle.module.url(forResource: "Kernels", withExtension: nil))
    for name in Self.kernelFiles {
      let output = try EmulatorCrossCheck.compileKernels(
        sources: [directory.appendingPathComponent(name)], triple: triple, objectFormat: objectFormat)
      let machO = output.contains("section(\"__DATA,mtlemu_tg\")")
      let elf = output.contains("section(\"mtlemu_tg\")")
      #expect(!(objectFormat == .machO ? elf : machO), "\(name): the other format's section for \(triple)")
      if name == "features.metal" {
        #expect(objectFormat == .machO ? machO : elf, "\(name): threadgroup section for \(triple)")
      }
    }
  }

  @Test("the assembly context switch compiles for every checked target", arguments: EmulatorCrossCheck.targets.map(\.triple))
  func contextSwitch(triple: String) throws {
    try EmulatorCrossCheck.compileContextSwitch(triple: triple)
  }

  @Test("kernels translated for ELF do not compile for macOS (the section name the check guards)")
  func elfSectionRejectedOnMacOS() throws {
    let directory = try #require(Bundle.module.url(forResource: "Kernels", withExtension: nil))
    #expect(throws: MetalEmulatorError.self) {
      try EmulatorCrossCheck.compileKernels(
        sources: [directory.appendingPathComponent("features.metal")], triple: "arm64-apple-macos15", objectFormat: .elf)
    }
  }

  @Test("errors of a cross-target compile are reported: the check is not vacuous")
  func detectsErrors() throws {
    let directory = try #require(Bundle.module.url(forResource: "Kernels", withExtension: nil))
    let bad = directory.appendingPathComponent("compile_fail/unsuffixed_literal.metal")
    #expect(throws: MetalEmulatorError.self) {
      try EmulatorCrossCheck.compileKernels(sources: [bad], triple: "arm64-apple-macos15", objectFormat: .machO)
    }
  }
}
