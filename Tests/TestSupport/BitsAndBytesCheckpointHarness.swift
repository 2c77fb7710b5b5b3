public import QuantCore

/// What re-reading and re-writing a transformers-made bitsandbytes checkpoint found.
public struct CheckpointFixtureReport: Sendable, CustomStringConvertible {
  /// Quantized weights found.
  public var weights = 0
  /// Stored tensors compared after load → write.
  public var tensorsRewritten = 0
  /// Stored tensors compared after quantizing the original weights again.
  public var tensorsRequantized = 0
  /// Nested codes where re-quantization (default rule) differs from the checkpoint (bitsandbytes' CPU C++ kernel).
  public var nestedCodeDifferences = 0
  /// Offsets recomputed in torch's order that differ from the stored one.
  public var offsetDifferences = 0
  /// Mismatches, one line each.
  public var failures: [String] = []

  /// A one-line summary.
  public var description: String {
    "\(weights) weights: \(tensorsRewritten) tensors rewritten, \(tensorsRequantized) re-quantized; nested codes "
      + "differing \(nestedCodeDifferences), offsets differing \(offsetDifferences), failures \(failures.count)"
  }
}

/// Compares a format with `Tests/Fixtures/hf/<variant>/model.safetensors` (transformers `save_pretrained` of
/// `Examples/tiny-llama` in bitsandbytes 4-bit).
public enum BitsAndBytesCheckpointHarness {
  /// Loads every quantized weight, writes it back, and re-quantizes the original fp16 weight.
  ///
  /// - Parameters:
  ///   - format: The format (`nf4` or `fp4`).
  ///   - variant: The folder under `Tests/Fixtures/hf`.
  ///   - parameters: The parameters transformers used (blocksize 64, double quant or not).
  /// - Returns: The report.
  /// - Throws: When a fixture cannot be read.
  public static func run(
    format: any QuantizationFormat, variant: String, parameters: FormatParameters
  ) throws -> CheckpointFixtureReport {
    let checkpoint = try FixtureSafeTensors("hf/\(variant)/model.safetensors")
    let original = try FixtureSafeTensors("../../Examples/tiny-llama/model.safetensors")
    let suffix = ".quant_state.bitsandbytes__" + format.name
    var report = CheckpointFixtureReport()
    for stateName in checkpoint.tensorNames where stateName.hasSuffix(suffix) {
      let weightName = String(stateName.dropLast(suffix.count))
      report.weights += 1
      func fail(_ message: String) { report.failures.append("\(weightName): \(message)") }
      guard let loaded = try format.loadCheckpoint(weightName: weightName, from: checkpoint) else {
        fail("not recognised")
        continue
      }
      let stored = Set(checkpoint.tensorNames.filter { $0 == weightName || $0.hasPrefix(weightName + ".") })
      let rewritten = try format.checkpointTensors(for: loaded, weightName: weightName)
      if Set(rewritten.map(\.name)) != stored { fail("names \(rewritten.map(\.name).sorted()) vs \(stored.sorted())") }
      for named in rewritten {
        guard let expected = try checkpoint.tensor(named: named.name) else { continue }
        report.tensorsRewritten += 1
        if !same(named.tensor, expected) { fail("\(named.name) differs after load → write") }
      }
      let requantized = try format.checkpointTensors(
        for: try format.quantize(try original.require(weightName), parameters: parameters), weightName: weightName)
      for named in requantized {
        guard let expected = try checkpoint.tensor(named: named.name) else {
          fail("re-quantization wrote unexpected \(named.name)")
          continue
        }
        report.tensorsRequantized += 1
        if same(named.tensor, expected) { continue }
        if named.name == weightName + ".absmax" && expected.dtype == .uint8 {
          report.nestedCodeDifferences += zip(named.tensor.bytes, expected.bytes).filter { $0 != $1 }.count
        } else if named.name == stateName {
          report.offsetDifferences += 1
        } else {
          fail("\(named.name) differs after re-quantization")
        }
      }
    }
    return report
  }

  static func same(_ a: Tensor, _ b: Tensor) -> Bool {
    a.dtype == b.dtype && a.shape == b.shape && a.bytes == b.bytes
  }
}
