import FormatINT8
import QuantCore
import TestSupport
import Testing

/// LLM.int8 cases that discriminate between plausible implementations
/// (`Tests/Fixtures/bnb/int8_extra.safetensors`, `Tools/fixtures/gen_int8_extra.py`).
@Suite("LLM.int8 discriminating cases against bitsandbytes")
struct Int8ExtraFixtureTests {
  static let fixture = Result { try FixtureSafeTensors("bnb/int8_extra.safetensors") }

  static func expectSame(_ result: Int8RowwiseWeights, _ key: String) throws {
    let fixture = try fixture.get()
    #expect(result.values.bytes == (try fixture.require("\(key)/CB").bytes), "\(key) CB")
    let scales = try fixture.require("\(key)/SCB").floats()
    #expect(
      zip(result.rowScale, scales).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
        && result.rowScale.count == scales.count, "\(key) SCB")
    let columns = try fixture.require("\(key)/outlier_cols").scalars(as: Int64.self).map { Int($0) }
    #expect(result.outlierColumns == columns, "\(key) outlier columns")
  }

  /// 512 rows spanning five decades of absmax: `127 / absmax` must be the reciprocal-then-multiply
  /// torch evaluates (a correctly rounded division changes 21 bfloat16 codes), and a threshold that
  /// float16/bfloat16 cannot represent is rounded to the input's dtype before comparing.
  @Test(arguments: ["f32", "f16", "bf16"], ["0", "6", "3.3"])
  func manyRows(dtype: String, threshold: String) throws {
    let input = try Int8ExtraFixtureTests.fixture.get().require("rows/\(dtype)/input")
    let result = try quantizeRowwise(input, threshold: Double(threshold) ?? -1)
    try Int8ExtraFixtureTests.expectSame(result, "rows/\(dtype)/t\(threshold)")
  }

  /// Subnormal rows, ∞, NaN, huge values and an all-zero row.
  @Test(arguments: ["0", "6"])
  func edgeRows(threshold: String) throws {
    let input = try Int8ExtraFixtureTests.fixture.get().require("edge/input")
    try Int8ExtraFixtureTests.expectSame(try quantizeRowwise(input, threshold: Double(threshold) ?? -1), "edge/t\(threshold)")
  }

  /// A bfloat16 weight through `Int8Params`: rounded to float16 first (one value overflows to ∞), then
  /// quantized; the checkpoint is bitsandbytes' state dict.
  @Test func bfloat16WeightsAsInt8Params() throws {
    let fixture = try Int8ExtraFixtureTests.fixture.get()
    let format = Int8Format()
    let quantized = try format.quantize(fixture.require("params/W"), parameters: FormatParameters())
    #expect(quantized.originalDType == .bfloat16 && quantized.shape == [48, 96])
    let written = try format.checkpointTensors(for: quantized, weightName: "lin.weight")
    #expect(written[0].tensor.bytes == (try fixture.require("params/CB").bytes))
    let expectedSCB = try fixture.require("params/SCB").floats()
    #expect(try written[1].tensor.floats().map(\.bitPattern) == expectedSCB.map(\.bitPattern))
    #expect(expectedSCB.contains(.infinity))
  }

  /// `Linear8bitLt` forward in eval mode with bias, for float32, float16 and bfloat16 activations.
  @Test(arguments: ["f32", "f16", "bf16"], ["0", "6"])
  func linearForward(dtype: String, threshold: String) throws {
    let fixture = try Int8ExtraFixtureTests.fixture.get()
    let weights = Int8RowwiseWeights(
      values: try fixture.require("params/CB"), rowScale: try fixture.require("params/SCB").floats())
    let output = try int8Linear(
      fixture.require("params/\(dtype)/A"), weights: weights, bias: fixture.require("params/\(dtype)/bias"),
      threshold: Double(threshold) ?? -1)
    let expected = try fixture.require("params/\(dtype)/t\(threshold)/out")
    #expect(output.dtype == expected.dtype && output.shape == expected.shape)
    let got = try output.floats()
    let want = try expected.floats()
    let differing = got.indices.filter { got[$0].bitPattern != want[$0].bitPattern && !(got[$0].isNaN && want[$0].isNaN) }
    if dtype == "f32" && threshold != "0" {
      // torch's float32 addmm is MKL sgemm, whose rounding depends on memory alignment (not even torch
      // reproduces itself bit for bit here): allow 2 ulps on the few outputs that differ.
      let far = differing.filter { abs(got[$0] - want[$0]) > 2 * want[$0].ulp }
      #expect(far.isEmpty && differing.count * 10 < got.count, "\(differing.count) differ, \(far.count) by more than 2 ulps")
    } else {
      #expect(
        differing.isEmpty, "\(differing.count) of \(got.count) differ; first \(differing.prefix(4).map { (got[$0], want[$0]) })")
    }
  }
}
