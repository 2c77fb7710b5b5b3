import BitsAndBytes
import Foundation
import Testing

/// The README's quick-start snippets, as written there, on small data.
@Suite("README quick start")
struct ReadmeQuickStartTests {
  @Test("the per-module snippets run and agree with the reference")
  func moduleSnippets() throws {
    let (rows, columns) = (8, 128)
    let values = (0..<(rows * columns)).map { Float(($0 * 37) % 101) / 101 - 0.5 }
    let x = try Tensor(converting: (0..<(2 * columns)).map { Float($0 % 7) - 3 }, to: .bfloat16, shape: [2, columns])

    let weight = try Tensor(converting: values, to: .bfloat16, shape: [rows, columns])
    let q = try quantize4bit(weight, compressStatistics: true, quantType: .nf4)
    let back = try dequantize4bit(q, to: .bfloat16)
    let y = try matmul4bit(x, q)
    let viaCodebook = try NF4.quantize(weight, doubleQuant: true)
    #expect(q.format == "nf4" && viaCodebook.format == "nf4")
    #expect(back.shape == [rows, columns])
    #expect(y.shape == [2, rows])
    let reference = try matmul4bit(x, q, backend: ReferenceBackend()).floats()
    for (a, b) in zip(try y.floats(), reference) { #expect(abs(a - b) <= 0.02 * max(1, abs(b))) }

    for format in ["nf4", "fp4", "int8", "fp8_e4m3"] {
      let w = try quantize(weight, as: format)
      let y = try linear(x, weight: w)
      #expect(y.shape == [2, rows], "\(format)")
    }

    let w8 = try quantizeInt8(weight)
    let y8 = try int8Linear(x, weight: w8, threshold: 6.0)
    #expect(y8.shape == [2, rows])

    let f8 = try quantizeFP8E4M3(weight)
    #expect(f8.shape == [rows, columns] && f8.format == "fp8_e4m3")
  }

  @Test("the whole-model snippet quantizes the bundled example")
  func modelSnippet() async throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let jobURL = folder.appendingPathComponent("quant.yaml")
    try """
    model: \(root.appendingPathComponent("Examples/tiny-llama").path)
    output: \(folder.appendingPathComponent("out").path)
    quantization: { load_in_4bit: true, bnb_4bit_quant_type: nf4 }
    """.write(to: jobURL, atomically: true, encoding: .utf8)

    // The snippet, verbatim (no unused-result warning: quantizeModel's summary is discardable).
    let registry = try StandardRegistry.make()
    try await CheckpointPatcher(registry: registry).quantizeModel(try QuantizationJob(contentsOf: jobURL))
    #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("out/model.safetensors").path))
  }
}
