import CPUKernels
import QuantCore

/// A deterministic generator (SplitMix64) so every failure reproduces.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The NF4 codebook (spec §1.1), used as a realistic 16-entry table.
let nf4Codebook: [Float] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]

/// The FP4 codebook as bitsandbytes' Python table stores it (spec §1.2).
let fp4Codebook: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3].map { $0 / 12 }

/// A storage layout defined by a test: float16 values per row, decoded times two.
struct DoublingLayout: CustomStorageLayout {
  var rows: Int
  var columns: Int
  var values: [Float]
  var kind: String { "doubling" }
  var storageByteCount: Int { values.count * 4 }
  func dequantizeRows(_ rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws(QuantError) {
    for (i, row) in rows.enumerated() {
      for column in 0..<columns { destination[i * columns + column] = values[row * columns + column] * 2 }
    }
  }
}

/// The kinds of weight the tests build, one per layout variant.
enum WeightKind: String, CaseIterable, CustomStringConvertible {
  case nf4, fp4, nf4Nested, codebook8, codebook8Nested, int8, e4m3Tensor, e4m3Rows, e4m3Tiles, e5m2Rows, custom
  var description: String { rawValue }
}

/// Builds random weights of `kind` with logical shape `[n, k]`.
func makeWeight(_ kind: WeightKind, n: Int, k: Int, blocksize: Int = 64, seed: UInt64 = 1) throws -> QuantizedTensor {
  var rng = SeededGenerator(seed: seed &+ UInt64(n * 7919 + k))
  let count = n * k
  func randomScales(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: 0.05...3, using: &rng) } }
  func nestedScales(_ count: Int) -> BlockScales {
    let code = (0..<256).map { Float($0 - 128) / 128 }
    let codes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let nestedBlocks = (count + 255) / 256
    return .nested(
      NestedAbsmax(
        codes: codes, absmax: (0..<nestedBlocks).map { _ in Float.random(in: 0.5...2, using: &rng) }, code: code,
        blocksize: 256, offset: 1.5))
  }
  switch kind {
  case .nf4, .fp4, .nf4Nested:
    let bytes = (0..<((count + 1) / 2)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let blocks = (count + blocksize - 1) / blocksize
    let absmax: BlockScales = kind == .nf4Nested ? nestedScales(blocks) : .plain(randomScales(blocks))
    let state = QuantState(
      absmax: absmax, shape: [n, k], code: kind == .fp4 ? fp4Codebook : nf4Codebook, dtype: .float32,
      blocksize: blocksize, quantType: kind == .fp4 ? "fp4" : "nf4")
    let packed = try Tensor(dtype: .uint8, shape: [bytes.count, 1], bytes: bytes)
    return QuantizedTensor(
      format: state.quantType, shape: [n, k], originalDType: .float32, layout: .codebook4Bit(packed: packed, state: state))
  case .codebook8, .codebook8Nested:
    let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let code = (0..<256).map { _ in Float.random(in: -1...1, using: &rng) }
    let blocks = (count + blocksize - 1) / blocksize
    let absmax: BlockScales = kind == .codebook8Nested ? nestedScales(blocks) : .plain(randomScales(blocks))
    let state = QuantState(
      absmax: absmax, shape: [n, k], code: code, dtype: .float32, blocksize: blocksize, quantType: "dynamic8")
    let codes = try Tensor(dtype: .uint8, shape: [n, k], bytes: bytes)
    return QuantizedTensor(
      format: "dynamic8", shape: [n, k], originalDType: .float32, layout: .codebook8Bit(codes: codes, state: state))
  case .int8:
    let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let values = try Tensor(dtype: .int8, shape: [n, k], bytes: bytes)
    let weights = Int8RowwiseWeights(values: values, rowScale: randomScales(n))
    return QuantizedTensor(format: "int8", shape: [n, k], originalDType: .float16, layout: .int8Rowwise(weights))
  case .e4m3Tensor, .e4m3Rows, .e4m3Tiles, .e5m2Rows:
    let encoding: Float8Encoding = kind == .e5m2Rows ? .e5m2 : .e4m3
    // Avoid NaN/inf codes so sums stay finite; every finite code is still exercised.
    let bytes = (0..<count).map { _ -> UInt8 in
      var b: UInt8
      repeat { b = UInt8.random(in: 0...255, using: &rng) } while !encoding.decode(b).isFinite
      return b
    }
    let scales: Float8Scales
    switch kind {
    case .e4m3Tensor: scales = .tensor(0.01)
    case .e4m3Tiles:
      let tiles = ((n + 15) / 16) * ((k + 31) / 32)
      scales = .tiles(tileRows: 16, tileColumns: 32, values: randomScales(tiles).map { $0 / 100 })
    default: scales = .rows(randomScales(n).map { $0 / 100 })
    }
    let values = try Tensor(dtype: encoding.dtype, shape: [n, k], bytes: bytes)
    return QuantizedTensor(
      format: "fp8", shape: [n, k], originalDType: .bfloat16,
      layout: .float8(Float8Weights(values: values, encoding: encoding, scales: scales)))
  case .custom:
    let layout = DoublingLayout(rows: n, columns: k, values: (0..<count).map { _ in Float.random(in: -1...1, using: &rng) })
    return QuantizedTensor(format: "doubling", shape: [n, k], originalDType: .float32, layout: .custom(layout))
  }
}

/// Random activations `[m, k]` in `dtype`.
func makeInput(m: Int, k: Int, dtype: DType, seed: UInt64 = 2) throws -> Tensor {
  var rng = SeededGenerator(seed: seed &+ UInt64(m * 31 + k))
  let values = (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &rng) }
  return try Tensor(converting: values, to: dtype, shape: [m, k])
}

/// Backends under test: the scalar reference kernels and the best SIMD kernels, with 1 and 2 threads.
let scalarBackend = CPUBackend(threads: 1, instructionSet: .scalar)
let simdBackend = CPUBackend(threads: 1, instructionSet: .best)
let simdBackend2 = CPUBackend(threads: 2, instructionSet: .best)
