import FormatConformance
import QuantCore
import Testing

/// A small but real format: symmetric 8-bit per-row quantization stored as int8 row-wise weights.
/// `bug` plants one defect so the tests can show that each check catches it.
struct RowwiseToyFormat: QuantizationFormat {
  enum Bug: Sendable { case none, dropsCompanionCheck, wrongScaleOnLoad, acceptsEmpty }
  var bug: Bug = .none
  var name: String { "toy8" }
  var summary: String { "symmetric int8 per row" }
  var parameterSpecs: [FormatParameterSpec] {
    [FormatParameterSpec(name: "bits", kind: .integer(allowed: [8]), defaultValue: .int(8), summary: "bits")]
  }

  func quantize(_ tensor: Tensor, parameters: FormatParameters) throws(QuantError) -> QuantizedTensor {
    _ = try parameters.integer(parameterSpecs[0])
    guard tensor.dtype.isFloatingPoint else {
      throw .unsupportedDType(tensor.dtype, operation: "toy8", supported: [.float32])
    }
    guard tensor.elementCount > 0 || bug == .acceptsEmpty else { throw .emptyTensor(context: "toy8") }
    let rows = tensor.shape.count == 2 ? tensor.shape[0] : 1
    let columns = tensor.shape.last ?? 1
    let values = try tensor.floats()
    var scales = [Float](repeating: 0, count: rows)
    var codes = [Int8](repeating: 0, count: values.count)
    for row in 0..<rows {
      let slice = values[(row * columns)..<((row + 1) * columns)]
      let absmax = slice.map(abs).max() ?? 0
      scales[row] = absmax
      for (offset, value) in slice.enumerated() where absmax > 0 {
        codes[row * columns + offset] = Int8((value * 127 / absmax).rounded(.toNearestOrEven))
      }
    }
    let stored = try Tensor(codes, shape: [rows, columns])
    return QuantizedTensor(
      format: name, shape: tensor.shape, originalDType: tensor.dtype,
      layout: .int8Rowwise(Int8RowwiseWeights(values: stored, rowScale: scales)))
  }

  func checkpointTensors(for tensor: QuantizedTensor, weightName: String) throws(QuantError) -> [NamedTensor] {
    guard case .int8Rowwise(let weights) = tensor.layout else { throw .invalidState("not toy8") }
    return [NamedTensor(weightName, weights.values), NamedTensor(weightName + ".scale", try Tensor(weights.rowScale))]
  }

  func loadCheckpoint(weightName: String, from source: any TensorSource) throws(QuantError) -> QuantizedTensor? {
    guard let values = try source.tensor(named: weightName) else { return nil }
    guard let scale = try source.tensor(named: weightName + ".scale") else {
      if bug == .dropsCompanionCheck {
        return QuantizedTensor(
          format: name, shape: values.shape, originalDType: .float32,
          layout: .int8Rowwise(Int8RowwiseWeights(values: values, rowScale: Array(repeating: 1, count: values.shape[0]))))
      }
      throw .invalidState("\(weightName).scale is missing")
    }
    var scales = try scale.scalars(as: Float.self)
    if bug == .wrongScaleOnLoad { scales = scales.map { $0 * 1.0001 } }
    return QuantizedTensor(
      format: name, shape: values.shape, originalDType: .float32,
      layout: .int8Rowwise(Int8RowwiseWeights(values: values, rowScale: scales)))
  }

  func companionTensorNames(for weightName: String) -> [String] { [weightName + ".scale"] }
}

@Suite("Format conformance helpers")
struct FormatConformanceTests {
  @Test("a conforming format passes every check")
  func conformingFormatPasses() {
    let failures = ConformanceSuite(format: RowwiseToyFormat(), maxRelativeRMSError: 0.02, inputDTypes: [.float32, .bfloat16])
      .run()
    #expect(failures.isEmpty, "\(failures)")
  }

  @Test(
    "each planted defect is reported by the check that owns it",
    arguments: [
      (RowwiseToyFormat.Bug.dropsCompanionCheck, "serialization"),
      (.wrongScaleOnLoad, "serialization"),
      (.acceptsEmpty, "bad-input"),
    ] as [(RowwiseToyFormat.Bug, String)])
  func defectsAreCaught(bug: RowwiseToyFormat.Bug, check: String) {
    let failures = ConformanceSuite(format: RowwiseToyFormat(bug: bug), maxRelativeRMSError: 0.02, inputDTypes: [.float32]).run()
    #expect(failures.contains { $0.check == check }, "\(failures)")
  }

  @Test("an error bar that is too tight is reported by the round-trip check")
  func tightErrorBarFails() {
    let failures = ConformanceSuite(format: RowwiseToyFormat(), maxRelativeRMSError: 1e-6, inputDTypes: [.float32])
      .checkRoundTrip()
    #expect(!failures.isEmpty)
  }

  @Test("seeded normal numbers are reproducible and roughly standard")
  func seededNormal() {
    let a = SeededNormal.values(10_000, seed: 5)
    #expect(a == SeededNormal.values(10_000, seed: 5))
    let mean = a.reduce(0, +) / Float(a.count)
    let variance = a.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(a.count)
    #expect(abs(mean) < 0.05 && abs(variance - 1) < 0.05)
  }
}
