import FormatConformance
import Foundation
import MLXAffine
import QuantCore
import SafeTensors
import Testing

/// The repository root, found from this file's location (`Examples/Plugins/MLXAffine/Tests/MLXAffineTests/`).
let repositoryRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func fixture(_ path: String) throws -> SafeTensorsFile {
  try SafeTensorsFile(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/\(path)"))
}

struct AffineCase: CustomStringConvertible, Sendable {
  var id: String
  var bits: Int
  var groupSize: Int
  var description: String { "\(id) b\(bits) g\(groupSize)" }
}

let affineCases: [AffineCase] = ["randn_8x128_f32", "randn_4x256_f16", "randn_4x256_bf16", "edge_4x128_f32", "edge_4x128_f16"]
  .flatMap { id in [4, 8].flatMap { bits in [32, 64, 128].map { AffineCase(id: id, bits: bits, groupSize: $0) } } }

@Suite("MLX affine format against mlx.core.quantize")
struct AffineFixtureTests {
  @Test("codes, scales, biases and dequantized values equal MLX's bytes", arguments: affineCases)
  func matchesMLX(testCase: AffineCase) throws {
    let file = try fixture("mlx/affine.safetensors")
    let input = try #require(try file.tensor(named: "\(testCase.id)/input"))
    let prefix = "\(testCase.id)/b\(testCase.bits)/g\(testCase.groupSize)"
    let format = AffineFormat(bits: testCase.bits)
    let quantized = try format.quantize(input, parameters: FormatParameters(["group_size": .int(testCase.groupSize)]))
    let stored = Dictionary(
      uniqueKeysWithValues: try format.checkpointTensors(for: quantized, weightName: "w.weight").map { ($0.name, $0.tensor) })
    for (ours, theirs) in [("w.weight", "wq"), ("w.scales", "scales"), ("w.biases", "biases")] {
      let expected = try #require(try file.tensor(named: "\(prefix)/\(theirs)"))
      let actual = try #require(stored[ours])
      #expect(actual.dtype == expected.dtype && actual.shape == expected.shape, "\(ours)")
      #expect(actual.bytes == expected.bytes, "\(prefix) \(theirs)")
    }
    let dequantized = try format.dequantize(quantized, to: input.dtype)
    let expected = try #require(try file.tensor(named: "\(prefix)/dequant"))
    #expect(dequantized.bytes == expected.bytes, "\(prefix) dequant")
  }

  @Test("every projection of the bundled tiny Llama quantizes to MLX's bytes")
  func tinyLlama() throws {
    let model = try SafeTensorsFile(contentsOf: repositoryRoot.appendingPathComponent("Examples/tiny-llama/model.safetensors"))
    let reference = try fixture("mlx/tiny-llama-affine4-g64.safetensors")
    let format = AffineFormat(bits: 4)
    let modules = reference.tensorNames.filter { $0.hasSuffix(".scales") }.map { String($0.dropLast(".scales".count)) }
    #expect(modules.count == 12)
    for module in modules {
      let weight = try #require(try model.tensor(named: module + ".weight"))
      let quantized = try format.quantize(weight, parameters: FormatParameters(["group_size": .int(64)]))
      for stored in try format.checkpointTensors(for: quantized, weightName: module + ".weight") {
        let expected = try #require(try reference.tensor(named: stored.name))
        #expect(stored.tensor.bytes == expected.bytes, "\(stored.name)")
      }
    }
  }

  @Test("affine4 and affine8 pass the conformance checks built-in formats pass", arguments: [4, 8])
  func conformance(bits: Int) {
    let failures = ConformanceSuite(
      format: AffineFormat(bits: bits),
      parameterSets: [32, 64, 128].map { FormatParameters(["group_size": .int($0)]) },
      shapes: [[1, 128], [4, 256], [3, 384]], awkwardShapes: [[1, 1], [3, 33], [2, 96]],
      maxRelativeRMSError: bits == 4 ? 0.15 : 0.01
    ).run()
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test("config.json gets MLX's quantization block")
  func modelConfiguration() throws {
    let entries = try #require(
      try AffineFormat(bits: 4).modelConfiguration(parameters: FormatParameters(["group_size": .int(64)])))
    #expect(entries.map(\.key) == ["quantization", "quantization_config"])
    #expect(entries[0].value == .object([("group_size", .int(64)), ("bits", .int(4)), ("mode", .string("affine"))]))
  }

  @Test("the plugin registers both formats and the counting backend counts and delegates")
  func pluginRegistration() throws {
    let registry = QuantRegistry()
    try registry.register(ReferenceBackend())
    try registry.install(MLXAffinePlugin())
    let counter = CallCounter()
    try registry.install(CountingBackendPlugin(delegateName: "reference", counter: counter))
    let format = try registry.format(named: "mlx4")
    #expect(format.name == "affine4")
    let backend = try registry.backend(named: "counting")
    let weight = try Tensor(converting: SeededNormal.values(4 * 64, seed: 1), to: .float32, shape: [4, 64])
    let quantized = try format.quantize(weight, parameters: FormatParameters())
    let x = try Tensor(converting: SeededNormal.values(64, seed: 2), to: .float32, shape: [1, 64])
    let y = try backend.linear(x, weight: quantized, bias: nil)
    #expect(try y.floats() == (try ReferenceBackend().linear(x, weight: quantized, bias: nil).floats()))
    #expect(counter.count("linear") == 1)
    #expect(registry.formats.first { $0.format.name == "affine4" }?.plugin == "mlx-affine")
  }
}
