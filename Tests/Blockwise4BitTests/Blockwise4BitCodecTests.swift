import Blockwise4Bit
import DoubleQuant
import FormatConformance
import QuantCore
import TestSupport
import Testing

@Suite("4-bit codebook codec")
struct Blockwise4BitCodecTests {
  static func codebooks() throws -> [(String, [Float])] {
    let fixture = try FixtureSafeTensors("bnb/fourbit_f32.safetensors")
    var generator = SeededNormal(seed: 5)
    let custom = (generator.values(14).map { max(-0.99, min(0.99, $0 / 3)) } + [-1, 1]).shuffled(using: &generator)
    return [
      ("nf4", try fixture.require("code/nf4").scalars(as: Float.self)),
      ("fp4", try fixture.require("code/fp4").scalars(as: Float.self)),
      ("custom", custom),
    ]
  }

  @Test("every code value, every midpoint and its successor land on the expected sorted position")
  func exhaustiveThresholds() throws {
    for (name, code) in try Self.codebooks() {
      let codec = try Blockwise4BitCodec(quantType: name, code: code)
      let quantizer = codec.quantizer
      let order = quantizer.indexOfSortedPosition
      #expect(order.map { code[Int($0)] } == code.sorted(), "\(name): the order sorts the codebook")
      for index in 0..<16 {
        // Duplicated values (FP4's two zeros) resolve to the first sorted position.
        let first = order.first { code[Int($0)] == code[index] }
        #expect(quantizer.index(of: code[index]) == first, "\(name) code[\(index)]")
      }
      for (k, threshold) in quantizer.thresholds.enumerated() {
        #expect(threshold == (code[Int(order[k])] + code[Int(order[k + 1])]) / 2)
        // Ties go to the lower sorted position, anything above to the upper one.
        #expect(quantizer.index(of: threshold) == order[k] || code[Int(order[k])] == code[Int(order[k + 1])])
        #expect(quantizer.index(of: threshold.nextUp) == order[k + 1], "\(name) above threshold \(k)")
      }
      #expect(quantizer.index(of: .nan) == order[15])
      #expect(quantizer.index(of: 7) == order[15] && quantizer.index(of: -7) == order[0])
    }
  }

  @Test("packing puts the first element in the high nibble and pads odd counts with the index of 0.0")
  func packing() throws {
    for (name, code) in try Self.codebooks() {
      let codec = try Blockwise4BitCodec(quantType: name, code: code)
      // One block with absmax exactly 1: v = x, so element i quantizes to i's own code.
      let values = code.map { $0 } + [1, -1, 0.5]
      let quantized = try codec.quantize(try Tensor(values), blocksize: 32)
      guard case .codebook4Bit(let packed, let state) = quantized.layout else { throw QuantError.invalidState("layout") }
      let indices = values.map { codec.quantizer.index(of: $0) } + [codec.quantizer.index(of: 0)]
      let expected = stride(from: 0, to: indices.count, by: 2).map { indices[$0] << 4 | indices[$0 + 1] }
      #expect(packed.bytes == expected, "\(name)")
      #expect(packed.shape == [10, 1] && state.absmax == .plain([1]))
    }
  }

  @Test("a 16-entry codebook is required")
  func codebookSize() {
    #expect(throws: QuantError.self) { try Blockwise4BitCodec(quantType: "x", code: [0, 1]) }
    #expect(throws: QuantError.self) { try Blockwise4BitCodec(quantType: "x", code: [Float](repeating: .nan, count: 16)) }
  }
}
