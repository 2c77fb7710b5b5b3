public import QuantCore

/// What comparing a 4-bit format against the bitsandbytes fixtures found.
public struct FourBitFixtureReport: Sendable, CustomStringConvertible {
  /// (case, blocksize) combinations compared.
  public var configurations = 0
  /// Packed tensors compared byte for byte.
  public var packedCompared = 0
  /// Plain absmax values compared bit for bit.
  public var absmaxCompared = 0
  /// Dequantized elements compared bit for bit (plain and nested).
  public var dequantizedCompared = 0
  /// Dequantized elements that differ only in the sign of zero (bitsandbytes' C++ LUT has -0.0 at FP4 index 8, the
  /// Python table +0.0; a negative decoded nested absmax flips both).
  public var signedZeroDifferences = 0
  /// bfloat16 elements where we hold NaN and bitsandbytes' C++ kernel +0.0 (its RNE overflows on an all-ones NaN).
  public var cpuKernelBFloat16NaNZeros = 0
  /// Offsets (double-quant means) compared.
  public var offsetsCompared = 0
  /// Offsets where our torch-order mean differs from the stored one.
  public var offsetDifferences = 0
  /// Nested codes compared with the default rule given the stored offset.
  public var nestedCodesCompared = 0
  /// Nested codes where bitsandbytes' CPU C++ lookup-table quantizer differs from the default rule.
  public var nestedCodesDifferingFromCPUKernel = 0
  /// The number of such code differences `fourbit.json` records for the same configurations.
  public var nestedCodesDifferingFromCPUKernelInManifest = 0
  /// Nested absmax values where bitsandbytes' CPU C++ kernel differs from the default rule (zero or NaN blocks).
  public var nestedAbsmaxDifferingFromCPUKernel = 0
  /// Mismatches, one line each.
  public var failures: [String] = []

  /// A one-paragraph summary.
  public var description: String {
    "\(configurations) configurations: packed \(packedCompared), absmax \(absmaxCompared), dequantized elements "
      + "\(dequantizedCompared) (signed-zero-only differences \(signedZeroDifferences), C++ bf16 NaN→0 \(cpuKernelBFloat16NaNZeros)), offsets \(offsetsCompared) "
      + "(recomputed differs: \(offsetDifferences)), nested codes \(nestedCodesCompared) (CPU C++ kernel differs: "
      + "\(nestedCodesDifferingFromCPUKernel)), nested absmax differing from CPU kernel \(nestedAbsmaxDifferingFromCPUKernel), failures \(failures.count)"
  }
}

/// Compares a 4-bit codebook format with `Tests/Fixtures/bnb/fourbit_<dtype>.safetensors`.
///
/// Tensor names in the fixture: `<case>/input`, `<case>/<qt>/bs<B>/{packed, absmax, dequant}` and
/// `<case>/<qt>/bs<B>/dq/{absmax, nested_absmax, offset, dequant, absmax_f32, absmax_default}`.
public enum FourBitFixtureHarness {
  /// The blocksizes in the fixtures.
  public static let blocksizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]

  /// Runs every comparison for one quant type and one input dtype file.
  ///
  /// - Parameters:
  ///   - quantType: `"nf4"` or `"fp4"`.
  ///   - dtypeKey: `"f32"`, `"f16"` or `"bf16"`.
  ///   - quantize: Quantizes `(input, blocksize, doubleQuant)`.
  ///   - nest: Double-quantizes `(absmax, offset)` with the default rule.
  ///   - dequantize: Decodes to a dtype.
  /// - Returns: The report.
  /// - Throws: When the fixture cannot be read.
  public static func run(
    quantType: String, dtypeKey: String,
    quantize: (Tensor, Int, Bool) throws -> QuantizedTensor,
    nest: ([Float], Float) throws -> NestedAbsmax,
    dequantize: (QuantizedTensor, DType) throws -> Tensor
  ) throws -> FourBitFixtureReport {
    let fixture = try FixtureSafeTensors("bnb/fourbit_\(dtypeKey).safetensors")
    let signedMap = try fixture.require("code/dynamic_signed").scalars(as: Float.self)
    var report = FourBitFixtureReport()
    let caseIDs = fixture.tensorNames.filter { $0.hasSuffix("/input") }.map { String($0.dropLast("/input".count)) }
    for caseID in caseIDs {
      let input = try fixture.require(caseID + "/input")
      for blocksize in blocksizes {
        let key = "\(caseID)/\(quantType)/bs\(blocksize)"
        guard let expectedPacked = try fixture.tensor(named: key + "/packed") else { continue }
        report.configurations += 1
        func fail(_ message: String) { report.failures.append("\(key): \(message)") }

        // Plain absmax.
        let ours = try quantize(input, blocksize, false)
        guard case .codebook4Bit(let packed, let state) = ours.layout, case .plain(let absmax) = state.absmax else {
          fail("unexpected layout")
          continue
        }
        report.packedCompared += 1
        if packed.bytes != expectedPacked.bytes || packed.shape != expectedPacked.shape {
          let firstDifference = zip(packed.bytes, expectedPacked.bytes).enumerated().first { $0.element.0 != $0.element.1 }
          fail(
            "packed differs (shape \(packed.shape) vs \(expectedPacked.shape), first byte \(String(describing: firstDifference)))"
          )
        }
        let expectedAbsmax = try fixture.require(key + "/absmax").scalars(as: Float.self)
        report.absmaxCompared += absmax.count
        if absmax.map(\.bitPattern) != expectedAbsmax.map(\.bitPattern) { fail("absmax differs: \(absmax) vs \(expectedAbsmax)") }
        compareDequantized(
          try dequantize(ours, input.dtype), try fixture.require(key + "/dequant"), packed: expectedPacked.bytes,
          label: "dequant",
          report: &report, key: key)

        // Double quantization.
        guard let storedOffsetTensor = try fixture.tensor(named: key + "/dq/offset") else { continue }
        let storedOffset = try storedOffsetTensor.scalars(as: Float.self)[0]
        let oursNested = try quantize(input, blocksize, true)
        guard case .codebook4Bit(let nestedPacked, let nestedState) = oursNested.layout,
          case .nested(let ourNested) = nestedState.absmax
        else {
          fail("double quantization did not nest")
          continue
        }
        if nestedPacked.bytes != expectedPacked.bytes { fail("double-quant packed differs from plain packed") }
        report.offsetsCompared += 1
        if ourNested.offset.bitPattern != storedOffset.bitPattern && !(ourNested.offset.isNaN && storedOffset.isNaN) {
          report.offsetDifferences += 1
        }
        let plainAbsmax = try fixture.require(key + "/dq/absmax_f32").scalars(as: Float.self)
        let withStoredOffset = try nest(plainAbsmax, storedOffset)
        let expectedDefaultCodes = try fixture.require(key + "/dq/absmax_default").bytes
        let libraryCodes = try fixture.require(key + "/dq/absmax").bytes
        report.nestedCodesCompared += expectedDefaultCodes.count
        if withStoredOffset.codes != expectedDefaultCodes { fail("nested codes differ from the default rule") }
        report.nestedCodesDifferingFromCPUKernel += zip(expectedDefaultCodes, libraryCodes).filter { $0 != $1 }.count
        let libraryNestedAbsmax = try fixture.require(key + "/dq/nested_absmax").scalars(as: Float.self)
        for (mine, theirs) in zip(withStoredOffset.absmax, libraryNestedAbsmax) where mine.bitPattern != theirs.bitPattern {
          // The CPU C++ kernel stores 0 (or its own clamp) for an all-zero nested block and its own NaN; the
          // default rule stores 1e-38 for an all-zero partial block. Anything else is a real difference.
          report.nestedAbsmaxDifferingFromCPUKernel += 1
          if theirs.isNormal && !mine.isNaN { fail("nested absmax differs: \(mine) vs \(theirs)") }
        }
        // Decode the library's own nested state (its codes, scales, offset) and compare bit for bit.
        let libraryState = QuantState(
          absmax: .nested(
            NestedAbsmax(codes: libraryCodes, absmax: libraryNestedAbsmax, code: signedMap, blocksize: 256, offset: storedOffset)),
          shape: input.shape, code: state.code, dtype: input.dtype, blocksize: blocksize, quantType: quantType)
        let libraryTensor = QuantizedTensor(
          format: ours.format, shape: input.shape, originalDType: input.dtype,
          layout: .codebook4Bit(packed: expectedPacked, state: libraryState))
        compareDequantized(
          try dequantize(libraryTensor, input.dtype), try fixture.require(key + "/dq/dequant"), packed: expectedPacked.bytes,
          label: "dq/dequant",
          report: &report, key: key)
      }
    }
    let manifest = try FixtureJSON.load("bnb/fourbit.json")
    for entry in manifest["cases"] as? [[String: Any]] ?? [] where entry["dtype"] as? String == dtypeKey {
      for (key, result) in entry["results"] as? [String: [String: Any]] ?? [:] where key.hasPrefix(quantType + "/") {
        let nested = result["dq"] as? [String: Any]
        report.nestedCodesDifferingFromCPUKernelInManifest += nested?["n_codes_differ_default"] as? Int ?? 0
      }
    }
    return report
  }

  /// Compares two tensors bit for bit, counting zeros that differ only in sign at nibble 8 separately.
  static func compareDequantized(
    _ ours: Tensor, _ expected: Tensor, packed: [UInt8], label: String, report: inout FourBitFixtureReport, key: String
  ) {
    guard ours.dtype == expected.dtype, ours.shape == expected.shape else {
      report.failures.append("\(key): \(label) dtype/shape \(ours.dtype)\(ours.shape) vs \(expected.dtype)\(expected.shape)")
      return
    }
    let size = ours.dtype.byteSize
    let a = ours.bytes
    let b = expected.bytes
    let signBit: UInt64 = 1 << (UInt64(size) * 8 - 1)
    var mismatches = 0
    var firstMismatch: Int?
    for element in 0..<ours.elementCount {
      var x: UInt64 = 0
      var y: UInt64 = 0
      for byte in 0..<size {
        x |= UInt64(a[element * size + byte]) << (8 * byte)
        y |= UInt64(b[element * size + byte]) << (8 * byte)
      }
      if x == y { continue }
      let nibble = element & 1 == 0 ? packed[element >> 1] >> 4 : packed[element >> 1] & 0x0F
      if x | signBit == signBit && y | signBit == signBit && nibble == 8 {
        report.signedZeroDifferences += 1
        continue
      }
      if ours.dtype == .bfloat16 && y == 0 && x & 0x7F80 == 0x7F80 && x & 0x7F != 0 {
        // bitsandbytes' C++ float_to_bf16 adds 0x7FFF + lsb without a NaN check: the all-ones NaN wraps to +0.0.
        report.cpuKernelBFloat16NaNZeros += 1
        continue
      }
      mismatches += 1
      if firstMismatch == nil { firstMismatch = element }
    }
    report.dequantizedCompared += ours.elementCount
    if mismatches > 0 {
      let index = firstMismatch ?? 0
      report.failures.append(
        "\(key): \(label) differs in \(mismatches) elements, first at \(index): "
          + "ours \(a[(index * size)..<(index * size + size)]) expected \(b[(index * size)..<(index * size + size)])")
    }
  }
}
