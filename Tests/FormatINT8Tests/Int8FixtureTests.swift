import FormatINT8
import Foundation
import QuantCore
import TestSupport
import Testing

/// LLM.int8 against bitsandbytes 0.50 on CPU (`Tests/Fixtures/bnb/int8.safetensors`).
@Suite("LLM.int8 against bitsandbytes")
struct Int8FixtureTests {
  static let fixture = Result { try FixtureSafeTensors("bnb/int8.safetensors") }

  /// Every case id of the fixture (random rows with outliers and an all-zero row, the spec's 2×3
  /// example, a single row), each in float32, float16 and bfloat16.
  static let cases = ["randn_outliers_16x64", "spec_example_2x3", "single_row_1x40"].flatMap { base in
    ["f32", "f16", "bf16"].map { "\(base)_\($0)" }
  }

  @Test(arguments: cases, [0, 6])
  func rowwiseQuantizationIsBitIdentical(caseID: String, threshold: Int) throws {
    let fixture = try Int8FixtureTests.fixture.get()
    let input = try fixture.require("\(caseID)/input")
    let key = "\(caseID)/t\(threshold)"
    let result = try quantizeRowwise(input, threshold: Double(threshold))
    #expect(result.values.dtype == .int8 && result.values.shape == input.shape)
    #expect(result.values.bytes == (try fixture.require("\(key)/CB").bytes))
    #expect(result.rowScale.map(\.bitPattern) == (try fixture.require("\(key)/SCB").floats()).map(\.bitPattern))
    #expect(result.outlierColumns == (try fixture.require("\(key)/outlier_cols").scalars(as: Int64.self)).map { Int($0) })
    if threshold == 0 {
      let dequantized = try dequantizeRowwise(result).floats().map(\.bitPattern)
      #expect(dequantized == (try fixture.require("\(key)/dequant").floats()).map(\.bitPattern))
    }
  }

  @Test func weightsQuantizeAsInt8Params() throws {
    let fixture = try Int8FixtureTests.fixture.get()
    let quantized = try Int8Format().quantize(fixture.require("matmul/W"), parameters: FormatParameters())
    guard case .int8Rowwise(let weights) = quantized.layout else {
      Issue.record("expected the int8-rowwise layout")
      return
    }
    #expect(weights.values.bytes == (try fixture.require("matmul/CB").bytes))
    #expect(weights.rowScale.map(\.bitPattern) == (try fixture.require("matmul/SCB").floats()).map(\.bitPattern))
    #expect(weights.outlierColumns.isEmpty)
  }

  @Test(arguments: [0, 6])
  func matmulPipelineIsBitIdentical(threshold: Int) throws {
    let fixture = try Int8FixtureTests.fixture.get()
    let key = "matmul/t\(threshold)"
    let activations = try fixture.require("matmul/A")
    let weights = Int8RowwiseWeights(
      values: try fixture.require("matmul/CB"), rowScale: try fixture.require("matmul/SCB").floats())

    let quantizedA = try quantizeRowwise(activations, threshold: Double(threshold))
    #expect(quantizedA.values.bytes == (try fixture.require("\(key)/CA").bytes))
    #expect(quantizedA.rowScale.map(\.bitPattern) == (try fixture.require("\(key)/SCA").floats()).map(\.bitPattern))
    #expect(quantizedA.outlierColumns == (try fixture.require("\(key)/outlier_cols").scalars(as: Int64.self)).map { Int($0) })

    let product = try matmulInt8(quantizedA.values, weights.values)
    let expectedProduct = try fixture.require("\(key)/int32").bytes
    #expect(product.dtype == .int32 && product.bytes == expectedProduct)

    let scaled = try dequantizeInt8Matmul(product, rowStats: quantizedA.rowScale, columnStats: weights.rowScale)
    let expectedScaled = try fixture.require("\(key)/mm_dequant").bytes
    #expect(scaled.dtype == .float16 && scaled.bytes == expectedScaled)

    let output = try int8Linear(activations, weights: weights, threshold: Double(threshold))
    let expected = try fixture.require("\(key)/bnb_matmul_out")
    #expect(output.dtype == expected.dtype && output.shape == expected.shape)
    #expect(output.bytes == expected.bytes)
  }
}
