import BitsAndBytes
import Dispatch
import Foundation

/// The formats the benchmark builds, with the storage layouts they exercise.
enum BenchFormat: String, CaseIterable {
  case nf4, fp4
  case nf4DoubleQuant = "nf4-dq"
  case dynamic8, int8, fp8
  case fp8E5M2 = "fp8-e5m2"
  case f32, bf16, f16

  /// Dense weights (no quantization): run through `denseLinear`.
  var isDense: Bool { self == .f32 || self == .bf16 || self == .f16 }

  var hasFastMode: Bool { self == .nf4 || self == .fp4 || self == .nf4DoubleQuant }
}

/// Median wall time of repeated calls after warm-up.
struct Timer {
  let repeats: Int

  func median(_ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<2 { try body() }
    var samples: [Double] = []
    for _ in 0..<repeats {
      let start = DispatchTime.now().uptimeNanoseconds
      try body()
      samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    samples.sort()
    return samples[samples.count / 2]
  }
}

/// Streaming read of a buffer larger than the last-level cache: the machine's read bandwidth.
struct ReadProbe {
  let mebibytes: Int

  func gigabytesPerSecond(threads: Int, timer: Timer) -> Double {
    let count = mebibytes << 18
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    for i in stride(from: 0, to: count, by: 1024) { buffer[i] = Float(i & 255) }
    let backend = CPUBackend(threads: 1)
    guard let start = buffer.baseAddress else { return 0 }
    let base = UncheckedPointer(pointer: UnsafePointer(start))
    let seconds = timer.median {
      DispatchQueue.concurrentPerform(iterations: threads) { part in
        let lower = count * part / threads
        let upper = count * (part + 1) / threads
        _ = backend.absoluteMaximum(UnsafeBufferPointer(start: base.pointer + lower, count: upper - lower))
      }
    }
    return Double(count * 4) / seconds / 1e9
  }
}

struct UncheckedPointer: @unchecked Sendable {
  let pointer: UnsafePointer<Float>
}

/// One weight shape: random normal weights quantized to each format on demand, rotated through enough
/// copies that every call reads its weights from DRAM (unless hot).
final class Workload {
  let n: Int
  let k: Int
  let minimumBytes: Int
  private var dense: [Float]
  private var cache: [BenchFormat: [QuantizedTensor]] = [:]
  private var denseCache: [BenchFormat: [Tensor]] = [:]

  init(n: Int, k: Int, minimumBytes: Int) {
    self.n = n
    self.k = k
    self.minimumBytes = minimumBytes
    var state: UInt64 = 0x1234_5678
    dense = (0..<(n * k)).map { _ in
      // Sum of uniforms: a cheap, roughly normal distribution.
      var sum: Float = 0
      for _ in 0..<4 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        sum += Float(state >> 40) / Float(1 << 24) - 0.5
      }
      return sum * 0.05
    }
  }

  func weightBytes(_ format: BenchFormat) -> Int {
    let count = n * k
    switch format {
    case .nf4, .fp4: return count / 2 + (count + 63) / 64 * 4
    case .nf4DoubleQuant: return count / 2 + (count + 63) / 64 + (count + 64 * 256 - 1) / (64 * 256) * 4
    case .dynamic8: return count + (count + 255) / 256 * 4
    case .int8: return count + n * 4
    case .fp8, .fp8E5M2: return count + n * 4
    case .f32: return count * 4
    case .bf16, .f16: return count * 2
    }
  }

  private func copies(_ format: BenchFormat) -> Int {
    max(1, (minimumBytes + weightBytes(format) - 1) / weightBytes(format))
  }

  func weights(_ format: BenchFormat) throws -> [QuantizedTensor] {
    if let cached = cache[format] { return cached }
    let backend = CPUBackend()
    let made = try (0..<copies(format)).map { _ in try quantize(format, backend: backend) }
    cache = [format: made]  // keep one format's copies at a time
    return made
  }

  private func quantize(_ format: BenchFormat, backend: CPUBackend) throws -> QuantizedTensor {
    let shape = [n, k]
    switch format {
    case .nf4, .fp4, .nf4DoubleQuant:
      let code = format == .fp4 ? fp4Code : nf4Code
      let quantizer = try BlockwiseCodebookQuantizer(code: code)
      let (packed, absmax) = try dense.withUnsafeBufferPointer {
        try backend.quantize4Bit($0, quantizer: quantizer, blocksize: 64)
      }
      let scales: BlockScales
      if format == .nf4DoubleQuant {
        // Nested scales: a simple 8-bit linear map per 256 blocks (the layout, not the encoder, is measured).
        let mean = absmax.reduce(0, +) / Float(absmax.count)
        let map = (0..<256).map { Float($0 - 128) / 127 }
        var codes: [UInt8] = []
        var nested: [Float] = []
        for start in stride(from: 0, to: absmax.count, by: 256) {
          let block = absmax[start..<min(start + 256, absmax.count)].map { $0 - mean }
          let scale = max(block.map(abs).max() ?? 1, 1e-12)
          nested.append(scale)
          codes += block.map { UInt8(clamping: Int(($0 / scale * 127).rounded()) + 128) }
        }
        scales = .nested(NestedAbsmax(codes: codes, absmax: nested, code: map, blocksize: 256, offset: mean))
      } else {
        scales = .plain(absmax)
      }
      let state = QuantState(absmax: scales, shape: shape, code: code, dtype: .float32, blocksize: 64, quantType: format.rawValue)
      let tensor = try Tensor(dtype: .uint8, shape: [packed.count, 1], bytes: packed)
      return QuantizedTensor(
        format: format.rawValue, shape: shape, originalDType: .float32, layout: .codebook4Bit(packed: tensor, state: state))
    case .dynamic8:
      var codes = [UInt8](repeating: 0, count: n * k)
      for i in codes.indices { codes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
      let map = (0..<256).map { Float($0 - 128) / 128 }
      let blocks = (n * k + 255) / 256
      let state = QuantState(
        absmax: .plain([Float](repeating: 0.1, count: blocks)), shape: shape, code: map, dtype: .float32, blocksize: 256,
        quantType: "dynamic8")
      return QuantizedTensor(
        format: "dynamic8", shape: shape, originalDType: .float32,
        layout: .codebook8Bit(codes: try Tensor(dtype: .uint8, shape: shape, bytes: codes), state: state))
    case .int8:
      let (q, stats) = try dense.withUnsafeBufferPointer { try backend.quantizeInt8Rows($0, rows: n, columns: k) }
      let values = try Tensor(q, shape: shape)
      return QuantizedTensor(
        format: "int8", shape: shape, originalDType: .float16,
        layout: .int8Rowwise(Int8RowwiseWeights(values: values, rowScale: stats)))
    case .fp8, .fp8E5M2:
      let encoding: Float8Encoding = format == .fp8 ? .e4m3 : .e5m2
      let bytes = dense.withUnsafeBufferPointer { backend.encodeFloat8($0, multiplier: 448 / 0.2, encoding: encoding) }
      let values = try Tensor(dtype: encoding.dtype, shape: shape, bytes: bytes)
      return QuantizedTensor(
        format: "fp8", shape: shape, originalDType: .bfloat16,
        layout: .float8(Float8Weights(values: values, encoding: encoding, scales: .rows([Float](repeating: 0.2 / 448, count: n))))
      )
    case .f32, .bf16, .f16:
      throw BenchError("\(format.rawValue) is a dense format, not a quantized one")
    }
  }

  private func input(m: Int) throws -> Tensor {
    try Tensor(converting: (0..<(m * k)).map { Float(($0 * 7919) % 1000) / 500 - 1 }, to: .float32, shape: [m, k])
  }

  /// Median seconds of the dense float32 kernel on `[m, k] · [n, k]ᵀ`.
  func denseSeconds(m: Int, threads: Int, timer: Timer) -> Double {
    let backend = CPUBackend(threads: threads)
    let x = (0..<(m * k)).map { Float(($0 * 7919) % 1000) / 500 - 1 }
    var y = [Float](repeating: 0, count: m * n)
    return dense.withUnsafeBufferPointer { w in
      x.withUnsafeBufferPointer { xs in
        y.withUnsafeMutableBufferPointer { ys in
          guard let xBase = xs.baseAddress, let wBase = w.baseAddress, let yBase = ys.baseAddress else { return 0 }
          return timer.median { backend.denseLinear(x: xBase, weight: wBase, m: m, n: n, k: k, into: yBase) }
        }
      }
    }
  }

  /// Dense half-precision copies of the weights (rotated like the quantized ones).
  func denseWeights(_ format: BenchFormat) throws -> [Tensor] {
    if let cached = denseCache[format] { return cached }
    let dtype: DType = format == .bf16 ? .bfloat16 : .float16
    let one = try Tensor(converting: dense, to: dtype, shape: [n, k])
    let made = try (0..<copies(format)).map { index in
      index == 0 ? one : try Tensor(dtype: dtype, shape: [n, k], bytes: one.bytes)
    }
    denseCache = [format: made]
    return made
  }

  func linearSeconds(format: BenchFormat, m: Int, threads: Int, mode: CPUBackend.Mode, timer: Timer) throws -> Double {
    if format == .f32 { return denseSeconds(m: m, threads: threads, timer: timer) }
    if format.isDense {
      let copies = try denseWeights(format)
      let backend = CPUBackend(threads: threads)
      let x = try input(m: m)
      var index = 0
      return try timer.median {
        _ = try backend.denseLinear(x, weight: copies[index % copies.count], bias: nil)
        index += 1
      }
    }
    let copies = try weights(format)
    let backend = CPUBackend(threads: threads, mode: mode)
    let x = try input(m: m)
    var index = 0
    return try timer.median {
      _ = try backend.linear(x, weight: copies[index % copies.count], bias: nil)
      index += 1
    }
  }

  /// The fast mode's error against exact mode on this workload: max |y_fast − y_exact| / max |y_exact|
  /// and the relative RMS error.
  func fastModeError(format: BenchFormat, m: Int) throws -> (maxRelative: Double, rmsRelative: Double) {
    let weight = try weights(format)[0]
    let x = try input(m: m)
    let exact = try CPUBackend(mode: .exact).linear(x, weight: weight, bias: nil).floats()
    let fast = try CPUBackend(mode: .fast).linear(x, weight: weight, bias: nil).floats()
    var maxError = 0.0
    var maxValue = 0.0
    var squaredError = 0.0
    var squaredValue = 0.0
    for (a, b) in zip(fast, exact) {
      let difference = Double(a - b)
      maxError = max(maxError, abs(difference))
      maxValue = max(maxValue, abs(Double(b)))
      squaredError += difference * difference
      squaredValue += Double(b) * Double(b)
    }
    return (maxError / max(maxValue, 1e-30), (squaredError / max(squaredValue, 1e-30)).squareRoot())
  }

  func quantizeSeconds(format: BenchFormat, threads: Int, timer: Timer) throws -> Double? {
    let backend = CPUBackend(threads: threads)
    switch format {
    case .nf4, .fp4, .nf4DoubleQuant:
      let quantizer = try BlockwiseCodebookQuantizer(code: format == .fp4 ? fp4Code : nf4Code)
      return try dense.withUnsafeBufferPointer { values in
        try timer.median { _ = try backend.quantize4Bit(values, quantizer: quantizer, blocksize: 64) }
      }
    case .int8:
      return try dense.withUnsafeBufferPointer { values in
        try timer.median { _ = try backend.quantizeInt8Rows(values, rows: n, columns: k) }
      }
    case .fp8, .fp8E5M2:
      return dense.withUnsafeBufferPointer { values in
        timer.median {
          let multiplier = 448 / backend.absoluteMaximum(values)
          _ = backend.encodeFloat8(values, multiplier: multiplier, encoding: format == .fp8 ? .e4m3 : .e5m2)
        }
      }
    case .dynamic8, .f32, .bf16, .f16:
      return nil
    }
  }

  func dequantizeSeconds(format: BenchFormat, threads: Int, timer: Timer) throws -> Double {
    let copies = try weights(format)
    let backend = CPUBackend(threads: threads)
    // Decode into one reused buffer: the figure is the kernel's, not the output allocation's page faults.
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: n * k * 4, alignment: 64)
    defer { output.deallocate() }
    output.initializeMemory(as: UInt8.self, repeating: 0)
    var index = 0
    return try timer.median {
      try backend.dequantize(copies[index % copies.count], to: .float32, into: output)
      index += 1
    }
  }
}

struct BenchError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

let nf4Code: [Float] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]
let fp4Code: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3].map { $0 / 12 }
