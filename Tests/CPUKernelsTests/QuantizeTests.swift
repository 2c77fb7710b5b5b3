import QuantCore
import Testing

@testable import CPUKernels

@Suite("CPU quantize")
struct QuantizeTests {
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    var result = (0..<count).map { _ in Float.random(in: -3...3, using: &rng) }
    // Zero blocks and exact codebook values exercise the all-zero and tie rules.
    if count >= 128 { for i in 64..<128 { result[i] = 0 } }
    if count >= 200 { for i in 128..<144 { result[i] = nf4Codebook[i - 128] } }
    return result
  }

  /// The scalar definition, written independently of the C code.
  static func reference4Bit(_ x: [Float], encoder: Codebook4BitEncoder, blocksize: Int) -> ([UInt8], [Float]) {
    var codes = [UInt8](repeating: 0, count: x.count)
    var absmax: [Float] = []
    for start in stride(from: 0, to: x.count, by: blocksize) {
      let block = x[start..<min(start + blocksize, x.count)]
      let am = block.map(abs).max() ?? 0
      let guarded = max(am, 1e-38)
      let isTail = block.count < blocksize
      absmax.append(isTail ? guarded : am)
      let reciprocal = 1 / guarded
      for (i, value) in block.enumerated() {
        let v = min(max(isTail ? value / guarded : value * reciprocal, -1), 1)
        codes[start + i] = encoder.indexMap[encoder.thresholds.filter { v > $0 }.count]
      }
    }
    let pad = encoder.indexMap[encoder.thresholds.filter { 0 > $0 }.count]
    var packed: [UInt8] = []
    for i in stride(from: 0, to: x.count, by: 2) {
      packed.append(codes[i] << 4 | (i + 1 < x.count ? codes[i + 1] : pad))
    }
    return (packed, absmax)
  }

  @Test("4-bit encoders agree with the scalar definition", arguments: [64, 128, 32, 30])
  func fourBit(blocksize: Int) throws {
    for codebook in [nf4Codebook, fp4Codebook] {
      let encoder = try Codebook4BitEncoder(codebook: codebook)
      for count in [1, 63, 700, 4096 + 37] {
        let x = QuantizeTests.values(count, seed: UInt64(count))
        let expected = QuantizeTests.reference4Bit(x, encoder: encoder, blocksize: blocksize)
        for backend in [scalarBackend, simdBackend, simdBackend2] {
          let found = try x.withUnsafeBufferPointer { try backend.quantize4Bit($0, encoder: encoder, blocksize: blocksize) }
          #expect(found.packed == expected.0, "bs \(blocksize) n \(count) \(backend.instructionSet)")
          #expect(found.absmax.map(\.bitPattern) == expected.1.map(\.bitPattern))
        }
      }
    }
  }

  @Test("the FP4 table sorts as torch does on CPU")
  func fp4Order() throws {
    let encoder = try Codebook4BitEncoder(codebook: fp4Codebook)
    #expect(encoder.indexMap == [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3])
  }

  @Test("int8 row-wise encoder agrees with the scalar definition")
  func int8Rows() throws {
    let (rows, columns) = (7, 133)
    var x = QuantizeTests.values(rows * columns, seed: 9)
    for i in 0..<columns { x[3 * columns + i] = 0 }  // an all-zero row
    for backend in [scalarBackend, simdBackend, simdBackend2] {
      let found = try x.withUnsafeBufferPointer { try backend.quantizeInt8Rows($0, rows: rows, columns: columns) }
      for r in 0..<rows {
        let stat = x[(r * columns)..<((r + 1) * columns)].map(abs).max()!
        #expect(found.rowStats[r] == stat)
        let scale = 127 / stat
        for c in 0..<columns {
          let v = x[r * columns + c] * scale
          let expected = v.isNaN ? 0 : Int8(v.rounded(.toNearestOrEven))
          #expect(found.values[r * columns + c] == expected)
        }
      }
    }
  }

  @Test("fp8 encoder agrees with Float8Encoding.encode", arguments: [Float8Encoding.e4m3, .e5m2])
  func float8(encoding: Float8Encoding) throws {
    var x = QuantizeTests.values(3000, seed: 4).map { $0 * 200 }
    x += [0, -0, .infinity, -.infinity, .nan, 448, 449, 464, 465, 57344, 61439, 61440, 1e-9, -1e-7, 0x1p-9, 0x1p-16]
    x += (0..<256).map { encoding.decode(UInt8($0)) }.filter { !$0.isNaN }
    for backend in [scalarBackend, simdBackend2] {
      let found = x.withUnsafeBufferPointer { backend.encodeFloat8($0, multiplier: 0.5, encoding: encoding) }
      #expect(found == x.map { encoding.encode($0 * 0.5) })
    }
  }
}
