import QuantCore
import Testing

@testable import CPUKernels

@Suite("CPU 8-bit blockwise encoder")
struct Quantize8BitTests {
  /// A sorted 256-entry map like bitsandbytes' dynamic map: dense near 0, with -1, 0 and 1.
  static let cubicMap: [Float] = (0..<256).map { i in
    let t = Float(i - 128) / 127
    return max(-1, min(1, t * t * t))
  }.sorted()

  /// Maps that stress the rules: repeated entries (equal neighbours give a threshold equal to both), an
  /// unsorted order (the quantizer sorts, stably), and entries beyond ±1 (thresholds outside the clamp).
  static var maps: [[Float]] {
    let repeated = cubicMap.map { ($0 * 16).rounded() / 16 }
    var shuffled = cubicMap
    var rng = SeededGenerator(seed: 99)
    shuffled.shuffle(using: &rng)
    let wide = cubicMap.map { $0 * 1.5 }
    return [cubicMap, repeated, shuffled, wide]
  }

  static func reference(
    _ quantizer: BlockwiseCodebookQuantizer, _ x: [Float], blocksize: Int
  ) -> (codes: [UInt8], absmax: [Float]) {
    var codes = [UInt8](repeating: 0, count: x.count)
    var absmax = [Float](repeating: 0, count: BlockwiseCodebookQuantizer.blockCount(x.count, blocksize: blocksize))
    x.withUnsafeBufferPointer { values in
      codes.withUnsafeMutableBufferPointer { out in
        absmax.withUnsafeMutableBufferPointer { scales in
          quantizer.quantize(values, blocksize: blocksize, indices: out, absmax: scales)
        }
      }
    }
    return (codes, absmax)
  }

  static func check(_ quantizer: BlockwiseCodebookQuantizer, _ x: [Float], blocksize: Int) throws {
    let expected = reference(quantizer, x, blocksize: blocksize)
    for backend in [scalarBackend, simdBackend, simdBackend2] {
      var codes = [UInt8](repeating: 0xAA, count: x.count)
      var absmax = [Float](repeating: -7, count: expected.absmax.count)
      let written = x.withUnsafeBufferPointer { values in
        codes.withUnsafeMutableBufferPointer { out in
          absmax.withUnsafeMutableBufferPointer { scales in
            backend.encode(
              .codebook8Bit(values: values, quantizer: quantizer, blocksize: blocksize, codes: out, absmax: scales))
          }
        }
      }
      #expect(written, "bs \(blocksize) \(backend.instructionSet)")
      #expect(codes == expected.codes, "bs \(blocksize) n \(x.count) \(backend.instructionSet)")
      #expect(absmax.map(\.bitPattern) == expected.absmax.map(\.bitPattern), "bs \(blocksize) \(backend.instructionSet)")
    }
  }

  @Test("random data, zero blocks and NaN blocks match the reference", arguments: [1, 7, 8, 30, 64, 100, 256, 2048, 4096])
  func random(blocksize: Int) throws {
    for map in Quantize8BitTests.maps {
      let quantizer = try BlockwiseCodebookQuantizer(code: map)
      for count in [1, 63, 700, 3 * 4096 + 37] {
        var x = QuantizeTests.values(count, seed: UInt64(count * 7 + blocksize))
        if count > 700 {
          for i in 4096..<(2 * 4096) { x[i] = 0 }  // an all-zero 4096 block (and smaller ones)
          x[650] = .nan
          x[20] = .infinity
          x[count - 3] = .nan
          x[9000] = -.infinity
        }
        try Quantize8BitTests.check(quantizer, x, blocksize: blocksize)
      }
    }
  }

  @Test("values on and next to every midpoint match the reference", arguments: [8, 64, 256, 33])
  func ties(blocksize: Int) throws {
    for map in Quantize8BitTests.maps {
      let quantizer = try BlockwiseCodebookQuantizer(code: map)
      let x = QuantizeTests.thresholdValues(quantizer, blocksize: blocksize, blocks: 8 * 2 + 3)
      try Quantize8BitTests.check(quantizer, x, blocksize: blocksize)
    }
  }

  @Test("bad requests are declined, not written")
  func declined() throws {
    let quantizer = try BlockwiseCodebookQuantizer(code: Quantize8BitTests.cubicMap)
    var codes = [UInt8](repeating: 0, count: 4)
    var absmax = [Float](repeating: 0, count: 0)
    let x: [Float] = [1, 2, 3, 4]
    let written = x.withUnsafeBufferPointer { values in
      codes.withUnsafeMutableBufferPointer { out in
        absmax.withUnsafeMutableBufferPointer { scales in
          simdBackend.encode(.codebook8Bit(values: values, quantizer: quantizer, blocksize: 4, codes: out, absmax: scales))
        }
      }
    }
    #expect(!written)
    #expect(throws: QuantError.self) {
      try x.withUnsafeBufferPointer { values in
        try codes.withUnsafeMutableBufferPointer { out in
          try absmax.withUnsafeMutableBufferPointer { scales in
            try simdBackend.encode8Bit(values, quantizer: quantizer, blocksize: 0, codes: out, absmax: scales)
          }
        }
      }
    }
  }
}
