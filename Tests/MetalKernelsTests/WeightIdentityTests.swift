import MetalKernels
import QuantCore
import Testing

@Suite("Weight buffer identity")
struct WeightIdentityTests {
  @Test("the same layer called again has one identity; other storage or other state arrays do not")
  func identity() throws {
    let tensor = try LayoutVariant.nf4NestedBlocksize64.weights(rows: 8, columns: 64, seed: 5)
    let copy = tensor
    #expect(WeightIdentity(tensor) != nil)
    #expect(WeightIdentity(tensor) == WeightIdentity(copy))
    // Equal contents in a different allocation: a different identity (the cache keys on storage).
    let rebuilt = try LayoutVariant.nf4NestedBlocksize64.weights(rows: 8, columns: 64, seed: 5)
    #expect(WeightIdentity(rebuilt) != WeightIdentity(tensor))
    // Same packed bytes, another codebook array (FP4 read over NF4 codes): not the same weights.
    guard case .codebook4Bit(let packed, var state) = tensor.layout else {
      Issue.record("expected a 4-bit layout")
      return
    }
    state.code = state.code.map { $0 * 0.5 }
    var other = tensor
    other.layout = .codebook4Bit(packed: packed, state: state)
    #expect(WeightIdentity(other) != WeightIdentity(tensor))
  }

  @Test("every built-in layout has an identity", arguments: LayoutVariant.allCases)
  func layouts(variant: LayoutVariant) throws {
    let tensor = try variant.weights(rows: 16, columns: 64, seed: 9)
    #expect(WeightIdentity(tensor) == WeightIdentity(tensor))
  }
}
