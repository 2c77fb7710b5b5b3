import BitsAndBytes
import FormatConformance
import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

@testable import ModelPatcher

/// One format and parameter set, and whether its layout can be cut into chunks.
struct ChunkCase: CustomTestStringConvertible, Sendable {
  var format: String
  var parameters: [String: ConfigValue]
  var chunkable: Bool
  var testDescription: String { "\(format) \(parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })" }

  static let all: [ChunkCase] = [
    ChunkCase(format: "nf4", parameters: [:], chunkable: true),
    ChunkCase(format: "nf4", parameters: ["blocksize": .int(32)], chunkable: true),
    ChunkCase(format: "nf4", parameters: ["double_quant": .bool(true)], chunkable: true),
    ChunkCase(format: "nf4", parameters: ["double_quant": .bool(true), "double_quant_rule": .string("cpu")], chunkable: true),
    ChunkCase(
      format: "nf4", parameters: ["blocksize": .int(128), "quant_storage": .string("bfloat16"), "double_quant": .bool(true)],
      chunkable: true),
    ChunkCase(format: "fp4", parameters: ["blocksize": .int(256), "quant_storage": .string("float32")], chunkable: true),
    ChunkCase(format: "fp4", parameters: ["double_quant": .bool(true)], chunkable: true),
    ChunkCase(format: "blockwise8", parameters: ["blocksize": .int(1024)], chunkable: true),
    ChunkCase(format: "blockwise8", parameters: ["blocksize": .int(100)], chunkable: true),
    ChunkCase(
      format: "blockwise8", parameters: ["blocksize": .int(64), "map": .string("unsigned"), "rule": .string("cpu")],
      chunkable: true),
    ChunkCase(format: "int8", parameters: [:], chunkable: true),
    ChunkCase(format: "int8", parameters: ["weight_threshold": .double(1.5)], chunkable: true),
    ChunkCase(format: "fp8_e4m3", parameters: ["tile_size": .int(4)], chunkable: true),
    ChunkCase(format: "fp8_e4m3", parameters: ["tile_size": .int(7)], chunkable: true),
    ChunkCase(format: "fp8_e4m3", parameters: ["scale": .string("row")], chunkable: true),
    ChunkCase(format: "fp8_e4m3", parameters: ["scale": .string("tensor")], chunkable: true),
    ChunkCase(format: "fp8_e4m3", parameters: ["scale": .string("none")], chunkable: true),
    ChunkCase(format: "fp8_e5m2", parameters: ["scale": .string("tile"), "tile_size": .int(3)], chunkable: true),
    ChunkCase(format: "blockwise8", parameters: ["blocksize": .int(7), "map": .string("unsigned")], chunkable: true),
  ]
}

@Suite("Chunked quantization writes the bytes whole-tensor quantization writes")
struct ChunkedQuantizerTests {
  let registry: QuantRegistry
  let backend: any KernelBackend
  init() throws {
    registry = try StandardRegistry.make()
    backend = try registry.backend(named: "cpu")
  }

  /// Normal values with an all-zero stretch, a large outlier and (for int8 with a weight threshold) values
  /// over it, in `dtype`.
  func input(_ shape: [Int], dtype: DType, seed: UInt64) throws -> Tensor {
    var values = SeededNormal.values(shape.reduce(1, *), seed: seed)
    for index in 70..<200 where index < values.count { values[index] = 0 }
    values[values.count / 2] = 9
    return try Tensor(converting: values, to: dtype, shape: shape)
  }

  func job(_ testCase: ChunkCase) throws -> ChunkedQuantizer.Job {
    let format = try registry.format(named: testCase.format)
    let parameters = FormatParameters(testCase.parameters).merged(
      over: try registry.defaultParameters(forFormat: testCase.format))
    return ChunkedQuantizer.Job(
      format: format, parameters: parameters, backend: backend, refuseNonFinite: true, fileName: "model.safetensors",
      tensorName: "w")
  }

  /// The checkpoint tensors as comparable records.
  func stored(_ tensor: QuantizedTensor, format: any QuantizationFormat) throws -> [String] {
    try format.checkpointTensors(for: tensor, weightName: "w").map { named in
      "\(named.name) \(named.tensor.dtype) \(named.tensor.shape) \(named.tensor.bytes)"
    }
  }

  @Test(arguments: ChunkCase.all)
  func chunkedMatchesWhole(_ testCase: ChunkCase) throws {
    let job = try job(testCase)
    // Rows of 96 (a row end falls inside a 64-block), 40 and 64 columns; float16, bfloat16, float32; a 3-D tensor.
    let inputs: [(shape: [Int], dtype: DType)] = [([45, 96], .float16), ([131, 40], .bfloat16), ([3, 17, 64], .float32)]
    for (number, (shape, dtype)) in inputs.enumerated() {
      let tensor = try input(shape, dtype: dtype, seed: UInt64(11 + number))
      let whole = try job.format.quantize(tensor, parameters: job.parameters, backend: backend)
      let expected = try stored(whole, format: job.format)
      // 1 element (one quantum), 100 (cuts inside rows and blocks), two rows, and more than the tensor.
      for chunk in [1, 100, 2 * shape.last!, tensor.elementCount + 1] {
        let result = try ChunkedQuantizer(chunkElements: chunk).quantize(InMemoryChunkSource(tensor: tensor), job: job)
        #expect(try stored(result.tensor, format: job.format) == expected, "shape \(shape) \(dtype), chunk \(chunk)")
        #expect(result.tensor.shape == shape && result.tensor.originalDType == dtype)
        if chunk == 1 {
          #expect((result.chunks > 1) == testCase.chunkable, "shape \(shape): \(result.chunks) chunks")
          // NF4/FP4, blockwise8's default rule and float16 LLM.int8 encode straight into the output; the others
          // go through the format.
          let direct =
            ["nf4", "fp4"].contains(testCase.format)
            || (testCase.format == "int8" && dtype == .float16 && testCase.parameters["weight_threshold"] == nil)
            || (testCase.format == "blockwise8" && testCase.parameters["rule"] == nil)
          #expect(result.direct == (testCase.chunkable && direct), "shape \(shape) \(dtype)")
        }
        if chunk > tensor.elementCount { #expect(result.chunks == 1) }
      }
    }
  }

  @Test func chunksRespectTheQuantum() throws {
    let tensor = try input([45, 96], dtype: .float16, seed: 3)
    var nested = ChunkCase.all[2]
    nested.parameters["blocksize"] = .int(512)
    // 4320 elements in 512-element blocks (a nested block spans the cuts): 9 chunks of one block.
    #expect(try ChunkedQuantizer(chunkElements: 600).quantize(InMemoryChunkSource(tensor: tensor), job: job(nested)).chunks == 9)
    // Tiles of 7 rows: 45 rows in chunks of 14 rows → 4 chunks.
    #expect(
      try ChunkedQuantizer(chunkElements: 1400).quantize(InMemoryChunkSource(tensor: tensor), job: job(ChunkCase.all[13])).chunks
        == 4)
    // int8: whole rows; 300 elements hold 3 rows of 96 → 15 chunks.
    #expect(
      try ChunkedQuantizer(chunkElements: 300).quantize(InMemoryChunkSource(tensor: tensor), job: job(ChunkCase.all[10])).chunks
        == 15)
  }

  /// LLM.int8 with a weight threshold: outliers first appear in a late chunk, so the chunks are quantized
  /// again with the column extremes appended, and the result is the whole tensor's (columns 5 and 7 zeroed).
  @Test func int8OutliersInALateChunkRestartWithTheColumnExtremes() throws {
    var values = SeededNormal.values(45 * 96, seed: 8).map { $0 * 0.2 }
    values[44 * 96 + 5] = 3
    values[30 * 96 + 7] = -2
    let tensor = try Tensor(converting: values, to: .float16, shape: [45, 96])
    let job = try job(ChunkCase(format: "int8", parameters: ["weight_threshold": .double(1.5)], chunkable: true))
    let whole = try job.format.quantize(tensor, parameters: job.parameters, backend: backend)
    guard case .int8Rowwise(let weights) = whole.layout else { throw QuantError.invalidState("not int8") }
    #expect(weights.outlierColumns == [5, 7])
    for chunk in [96, 500] {
      let result = try ChunkedQuantizer(chunkElements: chunk).quantize(InMemoryChunkSource(tensor: tensor), job: job)
      #expect(result.chunks > 1)
      #expect(try stored(result.tensor, format: job.format) == stored(whole, format: job.format), "chunk \(chunk)")
    }
  }

  @Test func nonFiniteValueInTheLastChunkIsRefusedWithTheWholeCount() throws {
    var values = SeededNormal.values(45 * 96, seed: 5)
    values[values.count - 1] = .nan
    values[300] = .infinity  // not in the first row: a probe with infinities falls back to the whole tensor
    let tensor = try Tensor(converting: values, to: .float16, shape: [45, 96])
    var job = try job(ChunkCase.all[2])
    #expect(throws: ModelPatcherError.nonFiniteWeights(file: "model.safetensors", tensor: "w", count: 2)) {
      try ChunkedQuantizer(chunkElements: 128).quantize(InMemoryChunkSource(tensor: tensor), job: job)
    }
    job.refuseNonFinite = false
    let result = try ChunkedQuantizer(chunkElements: 128).quantize(InMemoryChunkSource(tensor: tensor), job: job)
    #expect(result.nonFinite == 2 && result.chunks > 1)
    let whole = try job.format.quantize(tensor, parameters: job.parameters, backend: backend)
    #expect(try stored(result.tensor, format: job.format) == stored(whole, format: job.format))
  }

  @Test func nonFiniteScanCountsEveryDType() throws {
    let values: [Float] = [1, .nan, -.infinity, 0, .infinity, 3, -.nan]
    for dtype in [DType.float16, .bfloat16, .float32, .float64] {
      let tensor = try Tensor(converting: values, to: dtype)
      let count = tensor.withUnsafeBytes { NonFiniteScan.count(in: $0, dtype: dtype) }
      #expect(count == 4, "\(dtype)")
      // Unaligned bytes take the scalar path.
      let shifted = [UInt8(0)] + tensor.bytes
      let unaligned = shifted.withUnsafeBytes {
        NonFiniteScan.count(in: UnsafeRawBufferPointer(rebasing: $0[1...]), dtype: dtype)
      }
      #expect(unaligned == 4, "\(dtype) unaligned")
    }
  }

  @Test func wideningIsExactForEveryHalfPattern() throws {
    let patterns = (0...UInt16.max).map { $0 }
    for bfloat16 in [false, true] {
      let dtype: DType = bfloat16 ? .bfloat16 : .float16
      let expected = try Tensor(dtype: dtype, shape: [patterns.count], bytes: patterns.withUnsafeBytes { Array($0) }).floats()
      for exact in [false, true] {
        var widened = [Float](repeating: 0, count: patterns.count)
        patterns.withUnsafeBytes { bytes in
          widened.withUnsafeMutableBufferPointer { HalfWidening.widen(bytes, bfloat16: bfloat16, exact: exact, into: $0) }
        }
        // The fast path may quiet signalling NaNs; every other pattern is bit-identical.
        for (index, value) in widened.enumerated() where exact || !expected[index].isNaN {
          #expect(value.bitPattern == expected[index].bitPattern, "\(dtype) exact \(exact) pattern \(index)")
        }
        #expect(widened.filter(\.isNaN).count == expected.filter(\.isNaN).count)
      }
    }
  }
}

/// A third-party layout for the chunking tests: one int8 code per value and one float32 scale per pair of
/// rows (so chunks must hold whole pairs). It joins row chunks only when `joins` is set.
private struct PairedRowCodes: RowChunkedStorageLayout {
  var codes: [Int8]
  var scales: [Float]
  var rows: Int
  var columns: Int
  var kind: String { "paired_rows" }
  var storageByteCount: Int { codes.count + 4 * scales.count }
  var rowQuantum: Int { 2 }

  func dequantizeRows(_ rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws(QuantError) {
    for (index, row) in rows.enumerated() {
      for column in 0..<columns {
        destination[index * columns + column] = Float(codes[row * columns + column]) * scales[row / 2]
      }
    }
  }

  func joined(with following: [any CustomStorageLayout]) throws(QuantError) -> any CustomStorageLayout {
    var whole = self
    for part in following {
      guard let part = part as? PairedRowCodes, part.columns == columns, whole.rows % 2 == 0 else {
        throw .invalidState("paired_rows chunks do not join")
      }
      whole.codes += part.codes
      whole.scales += part.scales
      whole.rows += part.rows
    }
    return whole
  }
}

/// Quantizes to ``PairedRowCodes``: `scale = max |x| / 127` over each pair of rows, `code = round(x / scale)`.
private struct PairedRowFormat: QuantizationFormat {
  var name: String { "paired_rows" }
  var summary: String { "int8 codes, one scale per pair of rows (a test layout)" }
  var parameterSpecs: [FormatParameterSpec] { [] }

  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    let values = try tensor.floats()
    let columns = tensor.shape.last ?? 1
    let rows = values.count / columns
    var layout = PairedRowCodes(codes: [], scales: [], rows: rows, columns: columns)
    for pair in stride(from: 0, to: rows, by: 2) {
      let slice = values[(pair * columns)..<(min(pair + 2, rows) * columns)]
      let scale = (slice.map(abs).max() ?? 0) / 127
      layout.scales.append(scale)
      layout.codes += slice.map { Int8(scale == 0 ? 0 : ($0 / scale).rounded()) }
    }
    return QuantizedTensor(format: name, shape: tensor.shape, originalDType: tensor.dtype, layout: .custom(layout))
  }

  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .custom(let custom) = tensor.layout, let layout = custom as? PairedRowCodes else {
      throw .invalidState("not paired_rows")
    }
    return [
      NamedTensor(weightName, try Tensor(layout.codes, shape: [layout.rows, layout.columns])),
      NamedTensor(weightName + ".pair_scale", try Tensor(layout.scales)),
    ]
  }

  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? { nil }
  func companionTensorNames(for weightName: String) -> [String] { [weightName + ".pair_scale"] }
}

@Suite("Custom layouts that join row chunks are quantized in chunks")
struct CustomLayoutChunkTests {
  @Test func pairedRowsChunkedMatchesWhole() throws {
    let format = PairedRowFormat()
    let job = ChunkedQuantizer.Job(
      format: format, parameters: FormatParameters([:]), backend: CPUBackend(), refuseNonFinite: true,
      fileName: "model.safetensors", tensorName: "w")
    for (shape, dtype) in [([45, 96], DType.float16), ([3, 17, 64], .float32)] as [([Int], DType)] {
      let tensor = try Tensor(
        converting: SeededNormal.values(shape.reduce(1, *), seed: 21), to: dtype, shape: shape)
      let expected = try format.checkpointTensors(
        for: format.quantize(tensor, parameters: FormatParameters([:])), weightName: "w"
      ).map(\.tensor.bytes)
      // 1 element → one pair of rows per chunk; 300 → 2 pairs (cuts between pairs, never inside one).
      for (chunk, chunks) in [(1, (shape.reduce(1, *) / shape.last! + 1) / 2), (300, 0), (1 << 20, 1)] {
        let result = try ChunkedQuantizer(chunkElements: chunk).quantize(InMemoryChunkSource(tensor: tensor), job: job)
        #expect(try format.checkpointTensors(for: result.tensor, weightName: "w").map(\.tensor.bytes) == expected)
        if chunks > 0 { #expect(result.chunks == chunks, "shape \(shape), chunk \(chunk)") }
        #expect(!result.direct && result.tensor.shape == shape)
      }
    }
  }
}
