import MetalEmulator
import QuantCore
import Testing

/// Planted bugs (Kernels/buggy.metal) that the emulator must catch.
@Suite(
  "Emulator catches planted bugs", .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? ""))
)
struct EmulatorNegativeTests {
  /// Any 16-entry codebook does: the test is about which nibble is decoded, not the values.
  private static let nf4: [Float] = (0..<16).map { Float($0) / 7.5 - 1 }

  private func failure(_ body: () throws -> Void) -> String? {
    do {
      try body()
      return nil
    } catch let error as MetalEmulatorError {
      if case .dispatchFailed(let message) = error { return message }
      return "\(error)"
    } catch {
      return "\(error)"
    }
  }

  /// Runs an NF4 dequantize kernel on random data and returns the largest difference from the reference.
  private func nf4Error(_ kernel: String, order: LaneOrder) throws -> Float {
    let library = try EmulatorTestKernels.library("buggy.metal")
    let count = 640
    var generator = SystemRandomNumberGenerator()
    let packed = (0..<(count / 2)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    let absmax = (0..<(count / 64)).map { _ in Float.random(in: 0.5...2, using: &generator) }
    let output = try EmulatedBuffer(length: count * 4, fill: 0xFF)
    try library.dispatchThreads(
      kernel, threads: EmulatedSize(count), threadsPerThreadgroup: EmulatedSize(64),
      bindings: [
        .buffer(try EmulatedBuffer(packed), index: 0), .buffer(try EmulatedBuffer(absmax), index: 1),
        .buffer(try EmulatedBuffer(Self.nf4), index: 2), .buffer(output, index: 3),
        .bytes(withUnsafeBytes(of: UInt32(count)) { Array($0) }, index: 4),
      ], laneOrder: order)
    let result = output.read(Float.self)
    var worst: Float = 0
    for j in 0..<count {
      let byte = packed[j / 2]
      let nibble = j % 2 == 0 ? byte >> 4 : byte & 0x0F
      worst = max(worst, abs(result[j] - Self.nf4[Int(nibble)] * absmax[j / 64]))
    }
    return worst
  }

  @Test("a swapped nibble order fails the reference comparison", arguments: LaneOrder.allCases)
  func wrongNibbleOrder(order: LaneOrder) throws {
    #expect(try nf4Error("nf4_dequant", order: order) == 0)
    #expect(try nf4Error("nf4_dequant_wrong_nibble", order: order) > 0.1)
  }

  @Test("an out-of-bounds read is reported with kernel, threadgroup, thread and buffer, and the process survives")
  func outOfBounds() throws {
    let library = try EmulatorTestKernels.library("buggy.metal")
    let input = try EmulatedBuffer([Float](repeating: 1, count: 128))
    let output = try EmulatedBuffer(length: 128 * 4)
    let message = failure {
      try library.dispatchThreads(
        "read_past_end", threads: EmulatedSize(128), threadsPerThreadgroup: EmulatedSize(64),
        bindings: [.buffer(input, index: 0), .buffer(output, index: 1)])
    }
    let report = try #require(message)
    #expect(report.contains("out-of-bounds"))
    #expect(report.contains("[[buffer(0)]]"))
    #expect(report.contains("read_past_end"))
    #expect(report.contains("threadgroup (1,0,0)"))
    #expect(report.contains("buggy.metal:30:"), "the report names the source line of the faulting read")
    // The library still works afterwards.
    #expect(try nf4Error("nf4_dequant", order: .forward) == 0)
  }

  @Test("a missing barrier shows up as poisoned threadgroup memory", arguments: LaneOrder.allCases)
  func missingBarrier(order: LaneOrder) throws {
    let library = try EmulatorTestKernels.library("buggy.metal")
    let input = (0..<256).map { Float($0) }
    func run(_ kernel: String) throws -> [Float] {
      let output = try EmulatedBuffer(length: 256 * 4)
      try library.dispatchThreadgroups(
        kernel, threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(256),
        bindings: [.buffer(try EmulatedBuffer(input), index: 0), .buffer(output, index: 1)], laneOrder: order)
      return output.read(Float.self)
    }
    let expected = (0..<256).map { Float(($0 + 1) % 256) }
    #expect(try run("shift_with_barrier") == expected)
    let buggy = try run("shift_no_barrier")
    #expect(buggy != expected)
    #expect(buggy.contains { $0.isNaN })
  }

  @Test("simd_sum used as a threadgroup reduction sums one SIMD-group only")
  func simdSumAsThreadgroupReduction() throws {
    let library = try EmulatorTestKernels.library("buggy.metal")
    let output = try EmulatedBuffer(length: 4)
    try library.dispatchThreadgroups(
      "sum_simd_only", threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(256),
      bindings: [.buffer(try EmulatedBuffer([Float](repeating: 1, count: 256)), index: 0), .buffer(output, index: 1)])
    let total = output.read(Float.self)[0]
    #expect(total == 32)
    #expect(total != 256)
  }

  @Test("barrier misuse, divergent SIMD calls and unbound buffers are reported with the source line")
  func runtimeChecks() throws {
    let library = try EmulatorTestKernels.library("buggy.metal")
    let output = try EmulatedBuffer(length: 64 * 4)
    func run(_ kernel: String) -> String? {
      failure {
        try library.dispatchThreadgroups(
          kernel, threadgroups: EmulatedSize(1), threadsPerThreadgroup: EmulatedSize(64),
          bindings: [.buffer(output, index: 0)])
      }
    }
    let branch = try #require(run("barrier_in_branch"))
    #expect(branch.contains("barrier") && branch.contains("buggy.metal"))
    let early = try #require(run("return_before_barrier"))
    #expect(early.contains("returned") && early.contains("16 thread(s)"))
    let divergent = try #require(run("divergent_simd"))
    #expect(divergent.contains("divergent SIMD-group") && divergent.contains("buggy.metal:"))
    let unbound = try #require(run("unbound_buffer"))
    #expect(unbound.contains("[[buffer(5)]]"))
  }
}

/// Kernels/compile_fail: each file is valid C++-ish but invalid (or unsupported) Metal and must be rejected.
@Suite(
  "Emulator rejects invalid Metal",
  .enabled(if: EmulatorHost.isSupported, Comment(rawValue: EmulatorHost.unsupportedReason ?? "")))
struct EmulatorCompileFailureTests {
  @Test(
    "invalid kernels fail to compile with a message naming the problem",
    arguments: [
      ("threadgroup_initializer.metal", "initializer"),
      ("vector_c_cast.metal", "C-style cast"),
      ("unsuffixed_literal.metal", "suffix"),
      ("constant_write.metal", "const"),
      ("address_space_mix.metal", "address_space(1)"),
      ("mixed_vector_parts.metal", "element type"),
      ("texture_argument.metal", "texture"),
      ("instantiation_type_mismatch.metal", "explicit instantiation"),
    ])
  func rejected(file: String, expected: String) throws {
    do {
      _ = try EmulatorTestKernels.library("compile_fail/" + file)
      Issue.record("\(file) compiled")
    } catch let error as MetalEmulatorError {
      let message = "\(error)"
      #expect(message.contains(expected), "\(message)")
      switch error {
      case .translationFailed(let location, _): #expect(location.contains(file))
      case .compilationFailed(_, let log): #expect(log.contains(file))
      default: Issue.record("unexpected error \(error)")
      }
    }
  }
}
