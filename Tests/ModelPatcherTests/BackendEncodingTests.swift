import BitsAndBytes
import CPUKernels
import DoubleQuant
import FormatConformance
import FormatFP4
import FormatNF4
import Foundation
import ModelPatcher
import QuantCore
import Testing

@Suite("Quantizing through a backend's encoder")
struct BackendEncodingTests {
  @Test(
    "the CPU backend's 4-bit encoder gives the reference bytes",
    arguments: [
      ("nf4", 64, false, [33, 70]), ("nf4", 32, true, [16, 256]), ("fp4", 128, true, [7, 130]), ("fp4", 4096, false, [3, 1500]),
    ] as [(String, Int, Bool, [Int])])
  func cpuEncoderMatchesReference(format name: String, blocksize: Int, doubleQuant: Bool, shape: [Int]) throws {
    let format: any QuantizationFormat = name == "nf4" ? NF4Format() : FP4Format()
    var values = SeededNormal.values(shape.reduce(1, *), seed: 9)
    values[0] = 0
    values[values.count / 2] = .nan
    let tensor = try Tensor(converting: values, to: .bfloat16, shape: shape)
    let parameters = FormatParameters(["blocksize": .int(blocksize), "double_quant": .bool(doubleQuant)])
    let reference = try format.checkpointTensors(for: format.quantize(tensor, parameters: parameters), weightName: "w")
    let accelerated = try format.checkpointTensors(
      for: format.quantize(tensor, parameters: parameters, backend: CPUBackend()), weightName: "w")
    #expect(reference.map(\.name) == accelerated.map(\.name))
    for (a, b) in zip(reference, accelerated) { #expect(a.tensor.bytes == b.tensor.bytes, "\(a.name)") }
  }

  @Test("the CPU backend really encodes (it does not fall back)")
  func cpuBackendAccelerates() throws {
    let values = SeededNormal.values(4096, seed: 1)
    var packed = [UInt8](repeating: 0, count: 2048)
    var absmax = [Float](repeating: 0, count: 64)
    let handled = values.withUnsafeBufferPointer { input in
      packed.withUnsafeMutableBytes { raw in
        absmax.withUnsafeMutableBufferPointer { scales in
          CPUBackend().encodeCodebook4Bit(input, quantizer: NF4.codec.quantizer, blocksize: 64, packed: raw, absmax: scales)
        }
      }
    }
    #expect(handled)
    let fallback = values.withUnsafeBufferPointer { input in
      packed.withUnsafeMutableBytes { raw in
        absmax.withUnsafeMutableBufferPointer { scales in
          ReferenceBackend().encodeCodebook4Bit(input, quantizer: NF4.codec.quantizer, blocksize: 64, packed: raw, absmax: scales)
        }
      }
    }
    #expect(!fallback)
  }

  @Test("a job on the cpu backend writes the same checkpoint as on the reference backend")
  func jobBackendsAgree() async throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("backend-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    var outputs: [Data] = []
    for backend in ["cpu", "reference"] {
      var job = QuantizationJob(
        model: root.appendingPathComponent("Examples/tiny-llama"), output: folder.appendingPathComponent(backend),
        quantization: nil)
      job.format = "nf4"
      job.parameters = FormatParameters(["double_quant": .bool(true)])
      job.backend = backend
      try await ModelPatcher(registry: StandardRegistry.make()).quantizeModel(job)
      outputs.append(try Data(contentsOf: folder.appendingPathComponent("\(backend)/model.safetensors")))
    }
    #expect(outputs[0] == outputs[1])
  }
}
