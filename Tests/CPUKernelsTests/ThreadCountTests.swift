import Dispatch
import QuantCore
import Testing

@testable import CPUKernels

/// Every kernel gives bit-identical results with 1, 2, 3 and 4 threads (the persistent pool splits over
/// output rows or whole blocks, never over K).
@Suite("CPU results do not depend on the thread count")
struct ThreadCountTests {
  static let threadCounts = [1, 2, 3, 4]
  /// 140 rows give 5 GEMM tiles of 32 rows (so up to 4 chunks); K crosses a 256-column GEMM block.
  static let shapes: [(n: Int, k: Int)] = [(140, 320), (37, 100)]

  @Test("linear (GEMV and GEMM, exact and fast), prepared weights, dequantize", arguments: WeightKind.allCases)
  func quantized(kind: WeightKind) throws {
    for shape in ThreadCountTests.shapes {
      let weight = try makeWeight(kind, n: shape.n, k: shape.k)
      for m in [1, 3, 9, 40] {
        let input = try makeInput(m: m, k: shape.k, dtype: .float32)
        for mode in CPUBackend.Mode.allCases {
          let outputs = try ThreadCountTests.threadCounts.map { threads in
            try CPUBackend(threads: threads, mode: mode).linear(input, weight: weight, bias: nil).bytes
          }
          #expect(Set(outputs).count == 1, "\(kind) \(shape) m=\(m) \(mode)")
          let backend = CPUBackend(threads: 3, mode: mode)
          let prepared = try backend.prepare(weight)
          #expect(try backend.linear(input, weight: prepared, bias: nil).bytes == outputs[0], "prepared \(kind) m=\(m)")
        }
      }
      let decoded = try ThreadCountTests.threadCounts.map { threads in
        try CPUBackend(threads: threads).dequantize(weight, to: .bfloat16).bytes
      }
      #expect(Set(decoded).count == 1, "dequantize \(kind) \(shape)")
    }
  }

  @Test("dense linear for float32, float16 and bfloat16 weights")
  func dense() throws {
    for dtype in [DType.float32, .float16, .bfloat16] {
      for (n, k) in [(140, 300), (37, 64)] {
        let weight = try makeDenseWeight(n: n, k: k, dtype: dtype)
        for m in [1, 7, 9, 40] {
          let input = try makeInput(m: m, k: k, dtype: .float32)
          let outputs = try ThreadCountTests.threadCounts.map { threads in
            try CPUBackend(threads: threads).denseLinear(input, weight: weight, bias: nil).bytes
          }
          #expect(Set(outputs).count == 1, "\(dtype) \(n)x\(k) m=\(m)")
        }
      }
    }
  }

  @Test("encoders: 4-bit, int8 rows, fp8")
  func encoders() throws {
    var rng = SeededGenerator(seed: 11)
    let values = (0..<(64 * 1100)).map { _ in Float.random(in: -3...3, using: &rng) }
    let quantizer = try BlockwiseCodebookQuantizer(code: nf4Codebook)
    try values.withUnsafeBufferPointer { buffer in
      let fourBit = try ThreadCountTests.threadCounts.map { threads in
        try CPUBackend(threads: threads).quantize4Bit(buffer, quantizer: quantizer, blocksize: 64)
      }
      #expect(fourBit.allSatisfy { $0.packed == fourBit[0].packed && $0.absmax == fourBit[0].absmax })
      let int8 = try ThreadCountTests.threadCounts.map { threads in
        try CPUBackend(threads: threads).quantizeInt8Rows(buffer, rows: 1100, columns: 64)
      }
      #expect(int8.allSatisfy { $0.values == int8[0].values && $0.rowStats == int8[0].rowStats })
      let fp8 = ThreadCountTests.threadCounts.map { threads in
        CPUBackend(threads: threads).encodeFloat8(buffer, multiplier: 100, encoding: .e4m3)
      }
      #expect(Set(fp8).count == 1)
    }
  }

  @Test("concurrent callers share the pool (or fall back) and still get the same results")
  func concurrentCallers() throws {
    let weight = try makeWeight(.nf4, n: 140, k: 320)
    let input = try makeInput(m: 2, k: 320, dtype: .float32)
    let expected = try CPUBackend(threads: 1).linear(input, weight: weight, bias: nil).bytes
    let backend = CPUBackend(threads: 2)
    let matches = Counter()
    DispatchQueue.concurrentPerform(iterations: 8) { _ in
      for _ in 0..<20 {
        if (try? backend.linear(input, weight: weight, bias: nil).bytes) == expected { matches.add() }
      }
    }
    #expect(matches.value == 160)
  }
}

/// A thread-safe counter for the concurrency test.
final class Counter: @unchecked Sendable {
  private let lock = DispatchQueue(label: "counter")
  private var count = 0
  func add() { lock.sync { count += 1 } }
  var value: Int { lock.sync { count } }
}

/// Random dense weights `[n, k]` in `dtype`.
func makeDenseWeight(n: Int, k: Int, dtype: DType, seed: UInt64 = 5) throws -> Tensor {
  var rng = SeededGenerator(seed: seed &+ UInt64(n * 131 + k))
  return try Tensor(converting: (0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) }, to: dtype, shape: [n, k])
}
