package import Foundation
package import QuantCore

/// The Metal Shading Language source of the kernels, shipped as the `Shaders` resource folder.
///
/// `makeLibrary(source:)` compiles one string without include paths, so the files are concatenated
/// in ``fileNames`` order (shared definitions first). The emulator tests compile the same list.
package enum MetalShaderSource {
  /// The shader files, in concatenation order.
  package static let fileNames = ["QuantCommon.metal", "Dequantize.metal", "GEMV.metal", "GEMM.metal"]

  /// The shader files' locations inside the module's resource bundle.
  ///
  /// - Returns: One URL per entry of ``fileNames``.
  /// - Throws: `QuantError.invalidState` when the resource folder is missing.
  package static func fileURLs() throws(QuantError) -> [URL] {
    guard let folder = Bundle.module.url(forResource: "Shaders", withExtension: nil) else {
      throw .invalidState("the MetalKernels resource folder 'Shaders' is missing")
    }
    return fileNames.map { folder.appendingPathComponent($0) }
  }

  /// The concatenated source for `makeLibrary(source:)`.
  ///
  /// - Returns: The text of every file in ``fileNames`` order.
  /// - Throws: `QuantError.invalidState` when a file cannot be read.
  package static func combinedSource() throws(QuantError) -> String {
    var text = ""
    for url in try fileURLs() {
      guard let data = FileManager.default.contents(atPath: url.path) else {
        throw .invalidState("cannot read shader \(url.lastPathComponent)")
      }
      text += "// ---- \(url.lastPathComponent) ----\n" + String(decoding: data, as: UTF8.self) + "\n"
    }
    return text
  }
}
