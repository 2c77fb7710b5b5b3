// A decode benchmark of the metal backend on a Mac, off unless BNB_METAL_BENCH=1 (it measures, it
// does not judge: nothing here fails on a slow figure). Docs/metal.md, "First run on a Mac":
//   BNB_METAL_BENCH=1 swift test -c release --filter MetalKernelsTests.GPUDecodeBenchmark
#if canImport(Metal) || BNB_TYPECHECK_GPU_TESTS
  import Foundation
  import MetalKernels
  import QuantCore
  import Testing

  @Suite(
    "Metal decode benchmark (BNB_METAL_BENCH=1)",
    .enabled(if: ProcessInfo.processInfo.environment["BNB_METAL_BENCH"] == "1" && MetalBackend().isAvailable))
  struct GPUDecodeBenchmark {
    static let shapes = [(4096, 4096), (11008, 4096), (4096, 11008)]
    static let calls = 50

    @Test("M = 1 linear: single calls and 8 per command buffer, nested NF4 and int8, float16 activations")
    func decode() throws {
      let backend = MetalBackend()
      for variant in [LayoutVariant.nf4NestedBlocksize64, .int8Rowwise] {
        for (n, k) in Self.shapes {
          let weight = try variant.weights(rows: n, columns: k, seed: UInt64(n + k))
          let input = try randomActivations(rows: 1, columns: k, dtype: .float16, seed: 5)
          _ = try backend.linear(input, weight: weight, bias: nil)  // compile, cache the weight buffers
          let single = try Self.median {
            let output = try backend.linear(input, weight: weight, bias: nil)
            #expect(output.shape == [1, n])
          }
          let batched =
            try Self.median {
              let outputs = try backend.batch { (batch) throws(QuantError) in
                for _ in 0..<8 { try batch.linear(input, weight: weight, bias: nil) }
              }
              #expect(outputs.count == 8)
            } / 8
          let bytes = Double(Self.weightBytes(weight))
          print(
            "metal \(variant) [\(n), \(k)] M=1 f16: \(Self.micro(single)) µs/call single "
              + "(\(Self.gigabytes(bytes, single)) GB/s), \(Self.micro(batched)) µs/call batched ×8 "
              + "(\(Self.gigabytes(bytes, batched)) GB/s); weight bytes \(Int(bytes))")
        }
      }
    }

    static func median(_ body: () throws -> Void) throws -> Double {
      var times: [Double] = []
      for _ in 0..<calls {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
      }
      return times.sorted()[times.count / 2]
    }

    static func weightBytes(_ tensor: QuantizedTensor) -> Int {
      switch tensor.layout {
      case .codebook4Bit(let packed, let state), .codebook8Bit(let packed, let state):
        switch state.absmax {
        case .plain(let values): return packed.byteCount + values.count * 4
        case .nested(let nested): return packed.byteCount + nested.codes.count + nested.absmax.count * 4
        }
      case .int8Rowwise(let weights): return weights.values.byteCount + weights.rowScale.count * 4
      case .float8(let weights): return weights.values.byteCount
      case .custom: return 0
      }
    }

    static func micro(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1e6) }
    static func gigabytes(_ bytes: Double, _ seconds: Double) -> String { String(format: "%.1f", bytes / seconds / 1e9) }
  }
#endif
