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

  @Test("row chunks quantized apart and joined give the whole tensor's bytes (bnb-patch's chunked path)", arguments: [4, 8])
  func rowChunksJoin(bits: Int) throws {
    let input = try #require(try fixture("mlx/affine.safetensors").tensor(named: "randn_4x256_f16/input"))
    let format = AffineFormat(bits: bits)
    let parameters = FormatParameters(["group_size": .int(64)])
    let whole = try format.checkpointTensors(for: format.quantize(input, parameters: parameters), weightName: "w.weight")
    let rows = try input.floats()
    func part(_ range: Range<Int>) throws -> any CustomStorageLayout {
      let slice = try Tensor(
        converting: Array(rows[(range.lowerBound * 256)..<(range.upperBound * 256)]), to: .float16, shape: [range.count, 256])
      guard case .custom(let layout) = try format.quantize(slice, parameters: parameters).layout else {
        throw QuantError.invalidState("not a custom layout")
      }
      return layout
    }
    let first = try #require(try part(0..<1) as? any RowChunkedStorageLayout)
    #expect(first.rowQuantum == 1)
    let joined = try first.joined(with: [try part(1..<3), try part(3..<4)])
    let quantized = QuantizedTensor(format: format.name, shape: [4, 256], originalDType: .float16, layout: .custom(joined))
    let chunked = try format.checkpointTensors(for: quantized, weightName: "w.weight")
    #expect(chunked.map(\.name) == whole.map(\.name))
    #expect(chunked.map(\.tensor.bytes) == whole.map(\.tensor.bytes))
    let other = try AffineFormat(bits: 12 - bits).quantize(
      Tensor(converting: Array(rows[0..<256]), to: .float16, shape: [1, 256]), parameters: parameters)
    guard case .custom(let mismatched) = other.layout else { return }
    #expect(throws: QuantError.self) { try first.joined(with: [mismatched]) }
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
