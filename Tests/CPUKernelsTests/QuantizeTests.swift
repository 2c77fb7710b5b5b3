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

  @Test("4-bit encoders are bit-identical to the reference quantizer", arguments: [64, 128, 32, 30])
  func fourBit(blocksize: Int) throws {
    for codebook in [nf4Codebook, fp4Codebook] {
      let quantizer = try BlockwiseCodebookQuantizer(code: codebook)
      for count in [1, 63, 700, 4096 + 37] {
        var x = QuantizeTests.values(count, seed: UInt64(count))
        if count > 700 {
          x[650] = .nan
          x[20] = .infinity
          x[count - 3] = .nan
        }  // NaN propagation rules
        var expectedPacked = [UInt8](repeating: 0, count: (count + 1) / 2)
        var expectedAbsmax = [Float](repeating: 0, count: (count + blocksize - 1) / blocksize)
        x.withUnsafeBufferPointer { values in
          expectedPacked.withUnsafeMutableBytes { packed in
            expectedAbsmax.withUnsafeMutableBufferPointer { absmax in
              quantizer.quantizePacked4Bit(values, blocksize: blocksize, packed: packed, absmax: absmax)
            }
          }
        }
        for backend in [scalarBackend, simdBackend, simdBackend2] {
          let found = try x.withUnsafeBufferPointer { try backend.quantize4Bit($0, quantizer: quantizer, blocksize: blocksize) }
          #expect(found.packed == expectedPacked, "bs \(blocksize) n \(count) \(backend.instructionSet)")
          #expect(found.absmax.map(\.bitPattern) == expectedAbsmax.map(\.bitPattern))
        }
      }
    }
  }

  /// Values on and next to every threshold (scaled by powers of two and by 3, so the normalised values land
  /// exactly on or one ulp around a threshold), spread over groups of 8 blocks, leftover full blocks and a
  /// partial tail, with NaN, infinity, zero and subnormal blocks: exercises the binary search of the AVX2
  /// encoder, its 8-block absmax groups and the per-block NaN fallback.
  static func thresholdValues(_ quantizer: BlockwiseCodebookQuantizer, blocksize: Int, blocks: Int) -> [Float] {
    var pool: [Float] = [0, -0, 1, -1]
    for t in quantizer.thresholds where t.isFinite {
      pool += [t, t.nextUp, t.nextDown, -t, (-t).nextUp, (-t).nextDown]
    }
    for c in quantizer.code where c.isFinite { pool += [c, -c] }
    var x = [Float]()
    for b in 0..<blocks {
      let scale: Float = [1, 4, 0.25, 3, 1e-30, 1][b % 6]
      var block = (0..<blocksize).map { pool[($0 * 7 + b * 5) % pool.count] * scale }
      block[b % blocksize] = scale  // the block's absmax
      switch b % 11 {
      case 3: block[blocksize / 2] = .nan
      case 5: block[1] = -.infinity
      case 7: block = [Float](repeating: 0, count: blocksize)
      case 9: block = (0..<blocksize).map { Float($0 % 3) * 1e-40 }
      default: break
      }
      x += block
    }
    return x + [0.5, .nan, -3, 2].prefix(blocks % 4 + 1)
  }

  @Test("4-bit encoders match the reference on threshold ties and special blocks", arguments: [32, 64, 256])
  func fourBitThresholds(blocksize: Int) throws {
    // The last codebook has a NaN midpoint (between -inf and +inf), so its thresholds are not sorted and the
    // AVX2 encoder keeps its 15-compare path.
    let infinite = [Float](repeating: -.infinity, count: 8) + [Float](repeating: .infinity, count: 8)
    for codebook in [nf4Codebook, fp4Codebook, infinite] {
      let quantizer = try BlockwiseCodebookQuantizer(code: codebook)
      let x = QuantizeTests.thresholdValues(quantizer, blocksize: blocksize, blocks: 8 * 2 + 3)
      var expectedPacked = [UInt8](repeating: 0, count: (x.count + 1) / 2)
      var expectedAbsmax = [Float](repeating: 0, count: (x.count + blocksize - 1) / blocksize)
      x.withUnsafeBufferPointer { values in
        expectedPacked.withUnsafeMutableBytes { packed in
          expectedAbsmax.withUnsafeMutableBufferPointer { absmax in
            quantizer.quantizePacked4Bit(values, blocksize: blocksize, packed: packed, absmax: absmax)
          }
        }
      }
      for backend in [scalarBackend, simdBackend, simdBackend2] {
        let found = try x.withUnsafeBufferPointer { try backend.quantize4Bit($0, quantizer: quantizer, blocksize: blocksize) }
        #expect(found.packed == expectedPacked, "bs \(blocksize) \(codebook[0]) \(backend.instructionSet)")
        #expect(found.absmax.map(\.bitPattern) == expectedAbsmax.map(\.bitPattern))
      }
    }
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
        let scale = (1 / stat) * 127
        for c in 0..<columns {
          let v = x[r * columns + c] * scale
          let expected = v.isFinite ? Int8(v.rounded(.toNearestOrEven)) : 0
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
