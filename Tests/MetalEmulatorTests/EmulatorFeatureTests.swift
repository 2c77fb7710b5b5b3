import MetalEmulator
import QuantCore
import Testing

@Suite("Emulator features", .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
struct EmulatorFeatureTests {
  @Test("axpy in half precision rounds every operation", arguments: LaneOrder.allCases)
  func axpy(order: LaneOrder) throws {
    let library = try EmulatorTestKernels.library("features.metal")
    let count = 1000
    var generator = SystemRandomNumberGenerator()
    let x = (0..<count).map { _ in Float.random(in: -4...4, using: &generator) }
    let y = (0..<count).map { _ in Float.random(in: -4...4, using: &generator) }
    let xBits = x.map(HalfPrecision.float16Bits)
    let yBits = y.map(HalfPrecision.float16Bits)
    let xBuffer = try EmulatedBuffer(xBits)
    let yBuffer = try EmulatedBuffer(yBits)
    var arguments: [UInt8] = []
    withUnsafeBytes(of: UInt32(count)) { arguments += $0 }
    withUnsafeBytes(of: Float(0.3)) { arguments += $0 }
    try library.dispatchThreads(
      "axpy_f16", threads: EmulatedSize(count), threadsPerThreadgroup: EmulatedSize(64),
      bindings: [.buffer(xBuffer, index: 0), .buffer(yBuffer, index: 1), .bytes(arguments, index: 2)], laneOrder: order)
    let result = yBuffer.read(UInt16.self)
    let scale = HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(0.3))
    for i in 0..<count {
      let xv = HalfPrecision.float(float16Bits: xBits[i])
      let product = HalfPrecision.float(float16Bits: HalfPrecision.float16Bits(scale * xv))
      let expected = HalfPrecision.float16Bits(product + HalfPrecision.float(float16Bits: yBits[i]))
      #expect(result[i] == expected, "element \(i)")
    }
  }
}

extension EmulatorFeatureTests {
  private static func bytes<T: BitwiseCopyable>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

  @Test("template kernels with host_name, threadgroup storage, barriers and two-level simd_sum", arguments: LaneOrder.allCases)
  func blockSum(order: LaneOrder) throws {
    let library = try EmulatorTestKernels.library("features.metal")
    #expect(library.functionNames.contains("block_sum_f32"))
    #expect(library.functionNames.contains("block_sum_f16"))
    for (threads, count) in [(32, 32), (64, 1000), (256, 4096), (96, 77), (1024, 5000)] {
      let groups = 3
      let input = (0..<count).map { Float(($0 * 7919) % 23) - 11 }
      let inputBuffer = try EmulatedBuffer(input)
      let output = try EmulatedBuffer(length: groups * 4, fill: 0xFF)
      try library.dispatchThreadgroups(
        "block_sum_f32", threadgroups: EmulatedSize(groups), threadsPerThreadgroup: EmulatedSize(threads),
        bindings: [.buffer(inputBuffer, index: 0), .buffer(output, index: 1), .bytes(Self.bytes(UInt32(count)), index: 2)],
        laneOrder: order)
      let sums = output.read(Float.self)
      for group in 0..<groups {
        var expected: Float = 0
        for tid in 0..<threads {
          var i = group * threads + tid
          while i < count {
            expected += input[i]
            i += threads * 1024
          }
        }
        #expect(sums[group] == expected, "threads \(threads) count \(count) group \(group)")
      }
    }
  }

  @Test("dispatchThreads runs partial edge threadgroups; shuffles see their neighbours")
  func gridPositions() throws {
    let library = try EmulatorTestKernels.library("features.metal")
    let (width, height) = (37, 5)
    let output = try EmulatedBuffer(length: width * height * 4, fill: 0xFF)
    let neighbourBuffer = try EmulatedBuffer(length: width * height * 4, fill: 0xFF)
    try library.dispatchThreads(
      "grid_positions", threads: EmulatedSize(width, height), threadsPerThreadgroup: EmulatedSize(8, 4),
      bindings: [.buffer(output, index: 0), .buffer(neighbourBuffer, index: 1)])
    let values = output.read(UInt32.self)
    let neighbours = neighbourBuffer.read(UInt32.self)
    for y in 0..<height {
      for x in 0..<width {
        // The edge groups are narrower (5 × 4 and 8 × 1, …): lane numbering follows the real group width.
        let groupWidth = min(8, width - (x / 8) * 8)
        let groupHeight = min(4, height - (y / 4) * 4)
        let lane = ((y % 4) * groupWidth + x % 8) % 32
        let laneCount = groupWidth * groupHeight
        let neighbourExists = (lane ^ 1) < min(32, laneCount - ((y % 4) * groupWidth + x % 8) / 32 * 32)
        #expect(values[y * width + x] == UInt32(x + 1000 * y))
        if neighbourExists {
          #expect(neighbours[y * width + x] == UInt32(lane ^ 1))
        } else {
          #expect(neighbours[y * width + x] == UInt32.max, "an inactive lane reads as undefined (0xFF bytes)")
        }
      }
    }
  }

  @Test("prefix sums, broadcasts and vector constructors in a partial SIMD-group", arguments: LaneOrder.allCases)
  func simdFeatures(order: LaneOrder) throws {
    let library = try EmulatorTestKernels.library("features.metal")
    let output = try EmulatedBuffer(length: 48 * 16, fill: 0xFF)
    try library.dispatchThreadgroups(
      "simd_features", threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(48),
      bindings: [.buffer(output, index: 0)], laneOrder: order)
    let values = output.read(Float.self)
    for tid in 0..<48 {
      let lane = tid % 32
      let base = tid - lane
      let laneCount = tid < 32 ? 32 : 16
      let prefix = (0...lane).reduce(Float(0)) { $0 + Float(base + $1 + 1) }
      #expect(values[tid * 4] == prefix)
      #expect(values[tid * 4 + 1] == Float(base + 1))
      #expect(values[tid * 4 + 2] == Float(base + laneCount) + 1.5)
      #expect(values[tid * 4 + 3] == 2)
    }
  }

  @Test("threadgroup memory from setThreadgroupMemoryLength with a barrier tree", arguments: LaneOrder.allCases)
  func treeSum(order: LaneOrder) throws {
    let library = try EmulatorTestKernels.library("features.metal")
    for threads in [2, 64, 256, 1024] {
      let input = (0..<threads).map { Float($0 % 13) }
      let output = try EmulatedBuffer(length: 4, fill: 0xFF)
      try library.dispatchThreadgroups(
        "tree_sum", threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(threads),
        bindings: [
          .buffer(try EmulatedBuffer(input), index: 0), .buffer(output, index: 1),
          .threadgroupMemory(length: threads * 4, index: 0),
        ], laneOrder: order)
      #expect(output.read(Float.self)[0] == input.reduce(0, +))
    }
  }

  @Test("simdgroup_matrix multiply-accumulate")
  func simdgroupMatrix() throws {
    let library = try EmulatorTestKernels.library("features.metal")
    let a = (0..<256).map { Float(($0 * 37) % 17) - 8 }
    let b = (0..<256).map { Float(($0 * 11) % 13) - 6 }
    let c = try EmulatedBuffer(length: 256 * 4, fill: 0xFF)
    try library.dispatchThreadgroups(
      "matmul_16", threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(128),
      bindings: [.buffer(try EmulatedBuffer(a), index: 0), .buffer(try EmulatedBuffer(b), index: 1), .buffer(c, index: 2)])
    let result = c.read(Float.self)
    for row in 0..<16 {
      for column in 0..<16 {
        let expected = (0..<16).reduce(Float(0)) { $0 + a[row * 16 + $1] * b[$1 * 16 + column] }
        #expect(result[row * 16 + column] == expected)
      }
    }
  }

  @Test("unknown kernel names are reported with the available ones; [[host_name]] renames a kernel")
  func unknownFunction() throws {
    let library = try EmulatorTestKernels.library("features.metal")
    #expect(library.functionNames.contains("renamed_fill"))
    #expect(!library.functionNames.contains("fill_value"))
    #expect(throws: MetalEmulatorError.self) {
      try library.dispatchThreadgroups(
        "no_such_kernel", threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(1), bindings: [])
    }
  }
}
