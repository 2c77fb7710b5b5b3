import BitsAndBytes
import FormatConformance
import Foundation
import QuantCore
import TestSupport
import Testing

/// Every registered format through the one functional path, on every available backend.
@Suite("One API for every format")
struct OneAPITests {
  /// Weights with rows of different scale and an exact zero.
  static func weight(rows: Int = 12, columns: Int = 256, dtype: DType = .bfloat16) throws -> Tensor {
    var values = SeededNormal.values(rows * columns, seed: 21)
    for row in 0..<rows {
      for column in 0..<columns { values[row * columns + column] *= Float(row + 1) / 4 }
    }
    values[3] = 0
    return try Tensor(converting: values, to: dtype, shape: [rows, columns])
  }

  static func input() throws -> Tensor {
    try Tensor(converting: SeededNormal.values(3 * 256, seed: 22), to: .float32, shape: [3, 256])
  }

  @Test("quantize → linear: every registered format, every available backend, one currency")
  func everyFormatEveryBackend() throws {
    let registry = try StandardRegistry.make()
    let backends = registry.backends.filter { $0.isEnabled && $0.backend.isAvailable }.map(\.backend)
    #expect(backends.contains { $0.name == "cpu" } && backends.contains { $0.name == "reference" })
    let formats = registry.formats.filter(\.isEnabled).map(\.format)
    #expect(Set(formats.map(\.name)) == ["nf4", "fp4", "blockwise8", "int8", "fp8_e4m3", "fp8_e5m2"])
    let weight = try Self.weight()
    let x = try Self.input()
    let xs = try x.floats()
    let bias = try Tensor(converting: (0..<12).map { Float($0) / 8 }, to: .float32, shape: [12])
    for format in formats {
      let expected = try quantize(weight, format: format, backend: ReferenceBackend())
      #expect(expected.format == format.name && expected.shape == weight.shape && expected.originalDType == .bfloat16)
      let expectedBytes = try format.checkpointTensors(for: expected, weightName: "w").map(\.tensor.bytes)
      let decoded = try format.dequantize(expected, to: .float32).floats()
      for backend in backends {
        let context = "\(format.name) on \(backend.name)"
        // The same bytes whichever backend encodes.
        let q = try quantize(weight, format: format, backend: backend)
        #expect(try format.checkpointTensors(for: q, weightName: "w").map(\.tensor.bytes) == expectedBytes, "\(context)")
        // One entry point multiplies any weight, and agrees with the decoded weights.
        let y = try linear(x, weight: q, bias: bias, backend: backend).floats()
        for row in 0..<3 {
          for column in 0..<12 {
            var sum: Double = Double(column) / 8
            for k in 0..<256 { sum += Double(xs[row * 256 + k]) * Double(decoded[column * 256 + k]) }
            #expect(abs(Double(y[row * 12 + column]) - sum) <= 1e-3 * max(1, abs(sum)), "\(context) y[\(row), \(column)]")
          }
        }
        #expect(try dequantize(q, to: .float32, backend: backend).floats() == decoded, "\(context)")
      }
      // With no backend given, the standard registry's preferred one runs.
      #expect(try linear(x, weight: expected).shape == [3, 12])
    }
    #expect(StandardRegistry.preferredBackend.name != "reference")
  }

  @Test("by name: aliases and registry defaults apply; unknown names and bad parameters are typed errors")
  func byName() throws {
    let weight = try Self.weight()
    #expect(try quantize(weight, as: "e4m3").format == "fp8_e4m3")
    let nested = try quantize(weight, as: "normalfloat4", parameters: FormatParameters(["double_quant": .bool(true)]))
    guard case .codebook4Bit(_, let state) = nested.layout, case .nested = state.absmax else {
      Issue.record("double_quant was not applied")
      return
    }
    #expect(nested.format == "nf4")
    #expect(throws: QuantError.self) { try quantize(weight, as: "nf5") }
    #expect(throws: QuantError.unsupportedBlocksize(48, supported: BlockwiseCodebookQuantizer.supportedBlocksizes)) {
      try quantize(weight, format: NF4Format(), parameters: FormatParameters(["blocksize": .int(48)]))
    }
    #expect(throws: QuantError.self) {
      try quantize(weight, format: NF4Format(), parameters: FormatParameters(["blocksise": .int(64)]))
    }
  }

  @Test(
    "the CPU encoders give the reference bytes for every layout and parameter set",
    arguments: [
      ("nf4", ["blocksize": .int(64)]), ("nf4", ["blocksize": .int(32), "double_quant": .bool(true)]),
      ("fp4", ["blocksize": .int(128), "double_quant": .bool(true)]), ("fp4", ["blocksize": .int(4096)]),
      ("int8", [:]), ("fp8_e4m3", [:]), ("fp8_e4m3", ["scale": .string("row")]), ("fp8_e4m3", ["scale": .string("tensor")]),
      ("fp8_e4m3", ["scale": .string("none")]), ("fp8_e4m3", ["scale": .string("tile"), "tile_size": .int(16)]),
      ("fp8_e5m2", [:]), ("fp8_e5m2", ["scale": .string("none")]), ("fp8_e5m2", ["scale": .string("row")]),
    ] as [(String, [String: ConfigValue])])
  func cpuEncodersMatchReference(format name: String, parameters: [String: ConfigValue]) throws {
    let format = try StandardRegistry.make().format(named: name)
    for shape in [[33, 70], [16, 256], [3, 1500], [1, 4096]] {
      var values = SeededNormal.values(shape.reduce(1, *), seed: 9).map { $0 * 3 }
      values[0] = 0
      values[values.count / 2] = -0.0
      values[values.count - 1] = 70_000  // beyond both fp8 ranges when unscaled
      if name != "int8" { values[values.count / 3] = .nan }
      let tensor = try Tensor(converting: values, to: .float32, shape: shape)
      let parameters = FormatParameters(parameters)
      let reference = try format.checkpointTensors(for: format.quantize(tensor, parameters: parameters), weightName: "w")
      let accelerated = try format.checkpointTensors(
        for: format.quantize(tensor, parameters: parameters, backend: CPUBackend()), weightName: "w")
      #expect(reference.map(\.name) == accelerated.map(\.name))
      for (a, b) in zip(reference, accelerated) { #expect(a.tensor.bytes == b.tensor.bytes, "\(name) \(shape) \(a.name)") }
    }
  }

  @Test("the CPU backend encodes every layout into the caller's buffers; the reference backend declines")
  func cpuBackendAccelerates() throws {
    let values = SeededNormal.values(4096, seed: 1)
    let multipliers: [Float] = [2, 4, 8, 16]
    var packed = [UInt8](repeating: 0, count: 2048)
    var absmax = [Float](repeating: 0, count: 64)
    var codes = [Int8](repeating: 0, count: 4096)
    var rowScale = [Float](repeating: 0, count: 16)
    var fp8 = [UInt8](repeating: 0, count: 4096)
    for backend in [CPUBackend(), ReferenceBackend()] as [any KernelBackend] {
      var handled: [Bool] = []
      values.withUnsafeBufferPointer { input in
        packed.withUnsafeMutableBytes { packedBytes in
          absmax.withUnsafeMutableBufferPointer { scales in
            handled.append(
              backend.encode(
                .codebook4Bit(values: input, quantizer: NF4.codec.quantizer, blocksize: 64, packed: packedBytes, absmax: scales)))
          }
        }
        codes.withUnsafeMutableBufferPointer { int8 in
          rowScale.withUnsafeMutableBufferPointer { rows in
            handled.append(backend.encode(.int8Rowwise(values: input, rows: 16, columns: 256, codes: int8, rowScale: rows)))
          }
        }
        fp8.withUnsafeMutableBytes { fp8Bytes in
          multipliers.withUnsafeBufferPointer { m in
            handled.append(
              backend.encode(
                .float8(
                  values: input, columns: 256, tileRows: 8, tileColumns: 128, multipliers: m, encoding: .e4m3,
                  clampToFinite: true, codes: fp8Bytes)))
          }
        }
      }
      #expect(handled == Array(repeating: backend.name == "cpu", count: 3), "\(backend.name)")
    }
    // What the CPU wrote is what the reference encoders compute.
    var expectedPacked = [UInt8](repeating: 0, count: 2048)
    var expectedAbsmax = [Float](repeating: 0, count: 64)
    values.withUnsafeBufferPointer { input in
      expectedPacked.withUnsafeMutableBytes { raw in
        expectedAbsmax.withUnsafeMutableBufferPointer {
          NF4.codec.quantizer.quantizePacked4Bit(input, blocksize: 64, packed: raw, absmax: $0)
        }
      }
    }
    #expect(packed == expectedPacked && absmax == expectedAbsmax)
    let rowwise = try quantizeRowwise(Tensor(values, shape: [16, 256]))
    #expect(try rowwise.values.scalars(as: Int8.self) == codes && rowwise.rowScale == rowScale)
    let expectedFP8 = values.indices.map { index in
      Float8Encoding.e4m3.encode(min(max(values[index] * multipliers[(index / 256 / 8) * 2 + (index % 256) / 128], -448), 448))
    }
    #expect(fp8 == expectedFP8)
  }
}
