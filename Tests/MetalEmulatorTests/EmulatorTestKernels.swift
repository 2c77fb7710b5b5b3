import Foundation
import MetalEmulator

/// The test kernels under `Tests/MetalEmulatorTests/Kernels` (a resource folder), compiled once per process.
enum EmulatorTestKernels {
  static func library(_ name: String) throws -> EmulatedLibrary {
    guard let directory = Bundle.module.url(forResource: "Kernels", withExtension: nil) else {
      throw MetalEmulatorError.invalidArgument("the Kernels resource folder is missing")
    }
    return try EmulatedLibrary.compile(sources: [directory.appendingPathComponent(name)])
  }
}
