import CPUKernels
import FormatFP8
import FormatINT8
import QuantCore
import QuantizedLinear
import TestSupport
import Testing

/// A dictionary of tensors, standing in for a checkpoint.
struct TensorDictionary: TensorSource {
  var tensors: [String: Tensor]
  var tensorNames: [String] { tensors.keys.sorted() }
  func tensor(named name: String) throws(QuantError) -> Tensor? { tensors[name] }
}

/// Deterministic standard-normal-ish values (Box–Muller over SplitMix64).
func normalValues(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed
  func next() -> Double {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return (Double((z ^ (z >> 31)) >> 11) + 0.5) / Double(1 << 53)
  }
  return (0..<count).map { _ in
    Float((-2 * _log(next())).squareRoot() * _cos(2 * Double.pi * next()))
  }
}

private func _log(_ x: Double) -> Double {
  // Natural log via the float representation (no Foundation): log(m·2^e) = log(m) + e·ln 2, series for log(m).
  let e = x.exponent
  let m = x.significand  // in [1, 2)
  let t = (m - 1) / (m + 1)
  var sum = 0.0
  var power = t
  var k = 1.0
  for _ in 0..<30 {
    sum += power / k
    power *= t * t
    k += 2
  }
  return 2 * sum + Double(e) * 0.693_147_180_559_945_3
}

private func _cos(_ x: Double) -> Double {
  var y = x.truncatingRemainder(dividingBy: 2 * Double.pi)
  if y > Double.pi { y -= 2 * Double.pi }
  var term = 1.0
  var sum = 1.0
  for n in 1..<25 {
    term *= -y * y / Double((2 * n - 1) * (2 * n))
    sum += term
  }
  return sum
}

@Suite("Quantized linear layers")
struct LinearLayerTests {
  static let backends: [any KernelBackend] = [ReferenceBackend(), CPUBackend(threads: 2)]

  /// bitsandbytes' `test_matmul_4bit` bar: B = randn(N, K)/√K, mean |x·Bᵀ − x·dequant(B)ᵀ| < 0.115.
  @Test("Linear4bit meets bitsandbytes' matmul_4bit error bar", arguments: Linear4bit.QuantType.allCases)
  func fourBitErrorBar(quantType: Linear4bit.QuantType) throws {
    let (n, k, m) = (48, 256, 5)
    let dense = normalValues(n * k, seed: 3).map { $0 / Float(k).squareRoot() }
    let x = normalValues(m * k, seed: 4)
    let layer = try Linear4bit(weight: Tensor(dense, shape: [n, k]), quantType: quantType, doubleQuant: true)
    let input = try Tensor(x, shape: [m, k])
    for backend in LinearLayerTests.backends {
      let y = try layer.forward(input, backend: backend).floats()
      var error: Float = 0
      for row in 0..<m {
        for column in 0..<n {
          var exact: Float = 0
          for i in 0..<k { exact += x[row * k + i] * dense[column * k + i] }
          error += abs(exact - y[row * n + column])
        }
      }
      #expect(error / Float(m * n) < 0.115, "\(quantType) on \(backend.name)")
    }
  }

  @Test("forward agrees across backends, with bias and a compute dtype")
  func backendsAgree() throws {
    let (n, k) = (24, 128)
    let dense = normalValues(n * k, seed: 5)
    let bias = try Tensor(converting: normalValues(n, seed: 6), to: .float16, shape: [n])
    let layer = try Linear4bit(
      weight: Tensor(converting: dense, to: .bfloat16, shape: [n, k]), bias: bias, quantType: .nf4, computeDType: .float32)
    let input = try Tensor(converting: normalValues(3 * k, seed: 7), to: .bfloat16, shape: [3, k])
    let reference = try layer.forward(input, backend: ReferenceBackend())
    let cpu = try layer.forward(input, backend: CPUBackend(threads: 2))
    #expect(reference.dtype == .bfloat16 && cpu.dtype == .bfloat16)
    let a = try reference.floats()
    let b = try cpu.floats()
    for i in a.indices { #expect(abs(a[i] - b[i]) <= abs(a[i]) * 0x1p-7 + 1e-3) }
  }

  @Test("Linear4bit round-trips through checkpoint tensors")
  func fourBitCheckpoint() throws {
    let (n, k) = (16, 64)
    let bias = try Tensor(normalValues(n, seed: 8), shape: [n])
    let layer = try Linear4bit(weight: Tensor(normalValues(n * k, seed: 9), shape: [n, k]), bias: bias, quantType: .nf4)
    let name = "model.layers.0.mlp.up_proj.weight"
    let tensors = try layer.checkpointTensors(weightName: name)
    let source = TensorDictionary(tensors: Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) }))
    #expect(source.tensors["model.layers.0.mlp.up_proj.bias"] != nil)
    let loaded = try #require(try Linear4bit.load(weightName: name, from: source))
    #expect(loaded.quantType == .nf4)
    let input = try Tensor(normalValues(2 * k, seed: 10), shape: [2, k])
    let backend = CPUBackend(threads: 1)
    #expect(try loaded.forward(input, backend: backend).bytes == layer.forward(input, backend: backend).bytes)
    #expect(try Linear4bit.load(weightName: "missing.weight", from: source) == nil)
  }

  @Test("memory footprint counts absmax and nested state")
  func footprint() throws {
    let (n, k) = (64, 4096)
    let weight = try Tensor(normalValues(n * k, seed: 11), shape: [n, k])
    let plain = try Linear4bit(weight: weight, quantType: .nf4, doubleQuant: false).memoryFootprint
    // 4 bits + one float32 per 64 weights + the 16-entry codebook.
    #expect(plain.valueBytes == n * k / 2)
    #expect(plain.stateBytes == n * k / 64 * 4 + 16 * 4)
    #expect(abs(plain.bitsPerParameter - (4.5 + 16 * 32 / Double(n * k))) < 1e-9)
    let nested = try Linear4bit(weight: weight, quantType: .nf4, doubleQuant: true).memoryFootprint
    let blocks = n * k / 64
    // One byte per block, one float32 per 256 blocks, the 256-entry nested map, the offset, the codebook.
    #expect(nested.stateBytes == blocks + (blocks + 255) / 256 * 4 + 256 * 4 + 4 + 16 * 4)
    #expect(nested.bitsPerParameter < 4.2 && nested.bitsPerParameter > 4.125)
    let int8 = try Linear8bit(weight: weight).memoryFootprint
    #expect(int8.valueBytes == n * k && int8.stateBytes == n * 4)
    let total = combinedFootprint([plain, nested, int8])
    #expect(total.totalBytes == plain.totalBytes + nested.totalBytes + int8.totalBytes)
  }

  @Test("LinearFP8 and Linear8bit agree with their reference decode on every backend")
  func eightBitLayers() throws {
    let (n, k) = (20, 256)
    let dense = try Tensor(normalValues(n * k, seed: 12), shape: [n, k])
    let input = try Tensor(normalValues(4 * k, seed: 13), shape: [4, k])
    let layers: [any QuantizedLinearLayer] = [
      try LinearFP8(weight: dense), try LinearFP8(weight: dense, encoding: .e5m2, granularity: .row),
      try Linear8bit(weight: dense),
    ]
    for layer in layers {
      let reference = try layer.forward(input, backend: ReferenceBackend()).floats()
      let cpu = try layer.forward(input, backend: CPUBackend(threads: 2)).floats()
      for i in reference.indices { #expect(abs(reference[i] - cpu[i]) <= 1e-4 * max(1, abs(reference[i]))) }
    }
  }

  /// The real bitsandbytes: `Linear8bitLt` eval forward with bias (fixture `bnb/int8_extra`).
  @Test("Linear8bit reproduces bitsandbytes' Linear8bitLt", arguments: ["f16", "bf16"])
  func linear8bitFixture(dtype: String) throws {
    let fixture = try FixtureSafeTensors("bnb/int8_extra.safetensors")
    let layer = try Linear8bit(weight: fixture.require("params/W"), bias: fixture.require("params/\(dtype)/bias"))
    guard case .int8Rowwise(let weights) = layer.weight.layout else { return }
    #expect(weights.values.bytes == (try fixture.require("params/CB").bytes))
    for threshold in [0, 6] {
      var thresholded = layer
      thresholded.threshold = Double(threshold)
      let got = try thresholded.forward(fixture.require("params/\(dtype)/A")).floats()
      let want = try fixture.require("params/\(dtype)/t\(threshold)/out").floats()
      // Bit-identical, NaN payloads aside (one weight row has SCB = inf).
      let differing = got.indices.filter { got[$0].bitPattern != want[$0].bitPattern && !(got[$0].isNaN && want[$0].isNaN) }
      #expect(differing.isEmpty, "\(dtype) t\(threshold): \(differing.count) outputs differ")
    }
  }
}
