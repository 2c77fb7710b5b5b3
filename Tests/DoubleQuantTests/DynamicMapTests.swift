import DoubleQuant
import QuantCore
import TestSupport
import Testing

@Suite("Dynamic 8-bit maps")
struct DynamicMapTests {
  /// `create_dynamic_map` as spec §3.2 describes it, with torch's symmetric `linspace` evaluated with one
  /// rounding (fused multiply-add).
  static func derive(signed: Bool) -> [Float] {
    var values: [Float] = []
    for i in 0..<7 {
      let k = signed ? (1 << i) + 1 : (1 << (i + 1)) + 1
      let start: Float = 0.1
      let end: Float = 1
      let step = (end - start) / Float(k - 1)
      let linspace = (0..<k).map { j -> Float in
        j < k / 2 ? start.addingProduct(step, Float(j)) : end.addingProduct(-step, Float(k - 1 - j))
      }
      let scale = Float(Double.pow10(i - 6))
      let means = zip(linspace, linspace.dropFirst()).map { ($0 + $1) / 2 * scale }
      values += means
      if signed { values += means.map { -$0 } }
    }
    return (values + [0, 1]).sorted()
  }

  @Test("the tables equal create_dynamic_map(signed) and create_dynamic_map(unsigned) from bitsandbytes")
  func tablesMatchFixture() throws {
    let fixture = try FixtureSafeTensors("bnb/blockwise8.safetensors")
    let signed = try fixture.require("code/dynamic_signed").scalars(as: Float.self)
    let unsigned = try fixture.require("code/dynamic_unsigned").scalars(as: Float.self)
    #expect(DynamicMap.signed.map(\.bitPattern) == signed.map(\.bitPattern))
    #expect(DynamicMap.unsigned.map(\.bitPattern) == unsigned.map(\.bitPattern))
  }

  @Test("the tables follow from the construction of spec §3.2", arguments: [true, false])
  func derivation(signed: Bool) {
    let table = signed ? DynamicMap.signed : DynamicMap.unsigned
    #expect(Self.derive(signed: signed).map(\.bitPattern) == table.map(\.bitPattern))
  }

  @Test("the signed map is sorted, antisymmetric around index 127 and ends at 1.0")
  func signedShape() {
    let map = DynamicMap.signed
    #expect(zip(map, map.dropFirst()).allSatisfy { $0 < $1 })
    #expect(map[127] == 0 && map[255] == 1)
    #expect((0..<127).allSatisfy { map[254 - $0] == -map[$0] })
    #expect(DynamicMap.named("unsigned") == DynamicMap.unsigned && DynamicMap.named("other") == nil)
  }
}

extension Double {
  fileprivate static func pow10(_ exponent: Int) -> Double {
    // torch multiplies by the Python float 10**(i-6), an exactly-rounded double.
    [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1][exponent + 6]
  }
}
