import QuantCore
import Testing

/// The GPU suite's checks, tested where there is no GPU: the reference passes against itself, and a
/// backend one ulp off in a single element, or one whose outputs drift beyond the tolerance, fails.
@Suite("GPU suite checks")
struct BackendComparisonTests {
  @Test("the reference backend passes its own comparison")
  func referencePasses() throws {
    let comparison = BackendComparison(backend: ReferenceBackend())
    #expect(try comparison.dequantizeProblems(.nf4NestedBlocksize64, dtype: .bfloat16).isEmpty)
    #expect(try comparison.linearProblems(.fp8E4M3NarrowTiles, dtype: .float16, m: 9).isEmpty)
    #expect(try comparison.inputGradientProblems(.nf4NestedBlocksize64, dtype: .bfloat16, m: 9).isEmpty)
  }

  @Test("a one-bit difference in dequantize and a drift in linear are reported")
  func perturbedFails() throws {
    let comparison = BackendComparison(backend: PerturbedBackend())
    #expect(try comparison.dequantizeProblems(.int8Rowwise, dtype: .float32).count == BackendComparison.shapes.count)
    #expect(try comparison.linearProblems(.nf4Blocksize64, dtype: .float32, m: 1).count == BackendComparison.shapes.count)
    #expect(
      try comparison.inputGradientProblems(.int8Rowwise, dtype: .float32, m: 3).count == BackendComparison.shapes.count)
  }
}

/// The reference, except that the last output element is nudged: one ulp for dequantize, 1e-3
/// relative for linear and the input gradient.
private struct PerturbedBackend: KernelBackend {
  var name: String { "perturbed" }
  var isAvailable: Bool { true }
  func accelerates(_ layout: StorageLayout) -> Bool { false }
  func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    let result = try ReferenceBackend().dequantize(tensor, to: dtype)
    var bytes = result.bytes
    bytes[bytes.count - dtype.byteSize] ^= 1
    return try Tensor(dtype: dtype, shape: result.shape, bytes: bytes)
  }
  func linear(_ input: Tensor, weight: QuantizedTensor, bias: Tensor?) throws(QuantError) -> Tensor {
    let result = try ReferenceBackend().linear(input, weight: weight, bias: bias)
    var values = try result.floats()
    values[values.count - 1] = values[values.count - 1] * 1.001 + 1e-3
    return try Tensor(converting: values, to: input.dtype, shape: result.shape)
  }
  func linearInputGradient(_ outputGradient: Tensor, weight: QuantizedTensor) throws(QuantError) -> Tensor {
    let result = try ReferenceBackend().linearInputGradient(outputGradient, weight: weight)
    var values = try result.floats()
    values[values.count - 1] = values[values.count - 1] * 1.001 + 1e-3
    return try Tensor(converting: values, to: outputGradient.dtype, shape: result.shape)
  }
}
