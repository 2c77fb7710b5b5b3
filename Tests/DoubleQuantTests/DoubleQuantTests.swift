import DoubleQuant
import FormatConformance
import QuantCore
import TestSupport
import Testing

@Suite("Double quantization")
struct DoubleQuantTests {
  @Test("TorchSum.mean reproduces torch's single-thread float32 mean for awkward lengths")
  func torchMean() throws {
    let fixture = try FixtureSafeTensors("bnb/torch_mean.safetensors")
    var cases = 0
    var correctlyRoundedDiffers = 0
    for name in fixture.tensorNames where name.hasSuffix("/values") {
      let values = try fixture.require(name).scalars(as: Float.self)
      let expected = try fixture.require(String(name.dropLast("/values".count)) + "/mean").scalars(as: Float.self)[0]
      #expect(TorchSum.mean(values).bitPattern == expected.bitPattern, "\(name) (n = \(values.count))")
      let exact = Float(values.reduce(0.0) { $0 + Double($1) } / Double(values.count))
      if exact != expected { correctlyRoundedDiffers += 1 }
      cases += 1
    }
    #expect(cases > 30)
    // The order matters: a correctly rounded mean would miss several of these.
    #expect(correctlyRoundedDiffers > 0)
  }

  @Test("doubleQuant nests in blocks of 256 with the signed map; dequantAbsmax recovers the absmax closely")
  func roundTrip() throws {
    var generator = SeededNormal(seed: 7)
    let absmax = generator.values(1000).map { abs($0) * 0.5 + 1.5 }
    let nested = try doubleQuant(absmax: absmax)
    #expect(nested.blocksize == 256 && nested.absmax.count == 4 && nested.codes.count == 1000)
    #expect(nested.code == DynamicMap.signed)
    #expect(nested.offset == TorchSum.mean(absmax))
    let recovered = try dequantAbsmax(nested)
    #expect(recovered == nested.decoded())
    // Each recovered value is within half the widest gap of the map times its nested scale.
    let map = DynamicMap.signed
    let halfGap = zip(map, map.dropFirst()).map { ($1 - $0) / 2 }.max() ?? 0
    for (i, (x, y)) in zip(recovered, absmax).enumerated() {
      #expect(abs(x - y) <= halfGap * nested.absmax[i / 256] * 1.0001, "block \(i)")
    }
    // A given offset is used as is.
    #expect(try doubleQuant(absmax: absmax, offset: 2).offset == 2)
  }

  @Test("bad input gives typed errors")
  func badInput() throws {
    #expect(throws: QuantError.emptyTensor(context: "doubleQuant")) { try doubleQuant(absmax: []) }
    #expect(throws: QuantError.self) { try doubleQuant(absmax: [1, 2], blocksize: 0) }
    let inconsistent = NestedAbsmax(codes: [1, 2, 3], absmax: [], code: DynamicMap.signed, blocksize: 256, offset: 0)
    #expect(throws: QuantError.self) { try dequantAbsmax(inconsistent) }
    let shortMap = NestedAbsmax(codes: [1], absmax: [1], code: [0, 1], blocksize: 256, offset: 0)
    #expect(throws: QuantError.self) { try dequantAbsmax(shortMap) }
  }
}
