import ArgumentParser
import BitsAndBytes
import CPUKernels
import Foundation

/// `bnb-bench`: GEMV/GEMM/quantize/dequantize throughput of the CPU kernels, next to the machine's read
/// bandwidth and a dense float32 baseline of the same shape, measured in the same run.
@main
struct BNBBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-bench",
    abstract: "Measure the CPU kernels against read bandwidth and a dense float32 baseline.",
    discussion: """
      Build in release mode: swift run -c release bnb-bench --formats nf4,int8 --shapes 4096x4096 --m 1 --threads 1,2
      Every figure is the median of --repeats timed calls after warm-up calls. GB/s counts weight bytes only
      (packed data + scales); ratios compare with the dense float32 kernel and the read bandwidth of this run.
      `bnb-bench model` times bnb-patch on a synthetic checkpoint against the disk (ModelBenchmark.swift);
      `bnb-bench decode` measures prefill and decode of a whole synthetic model.
      """,
    subcommands: [ModelBenchmark.self, DecodeCommand.self, LoRABenchmark.self])

  @Option(
    help: "Comma-separated formats: nf4, fp4, nf4-dq (double quant), dynamic8, int8, fp8, fp8-e5m2, and dense f32, bf16, f16.")
  var formats = "nf4,fp4,int8,fp8"

  @Option(help: "Comma-separated N x K shapes (out x in features).")
  var shapes = "4096x4096"

  @Option(help: "Comma-separated activation row counts (≤ 8 runs the GEMV, more the GEMM).")
  var m = "1"

  @Option(help: "Comma-separated thread counts.")
  var threads = "1,2"

  @Option(help: "Comma-separated modes: exact, fast.")
  var modes = "exact"

  @Option(help: "Comma-separated operations: linear, quantize, dequantize.")
  var ops = "linear"

  @Option(help: "Timed calls per measurement (the median is reported).")
  var repeats = 11

  @Option(
    name: .customLong("bandwidth-mib"), help: "Size of the read-bandwidth buffer in MiB (larger than the last-level cache).")
  var bandwidthMiB = 1024

  @Flag(help: "Reuse one weight copy (cache-hot) instead of rotating through ≥ 160 MiB of copies.")
  var hot = false

  @Option(
    help: ArgumentHelp(
      "Python with numpy: also time OpenBLAS sgemm/sgemv (Tools/bench/openblas_sgemm.py) in this run, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, and report ratios to it.",
      valueName: "python"))
  var openblas: String?

  @Option(help: "The OpenBLAS script (for --openblas).")
  var openblasScript = "Tools/bench/openblas_sgemm.py"

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  func run() throws {
    let formatList = try list(formats).map { name throws(ValidationError) -> BenchFormat in
      guard let format = BenchFormat(rawValue: name) else {
        throw ValidationError("unknown format '\(name)'; choose from \(BenchFormat.allCases.map(\.rawValue))")
      }
      return format
    }
    let shapeList = try list(shapes).map { text throws(ValidationError) -> (n: Int, k: Int) in
      let parts = text.split(separator: "x").compactMap { Int($0) }
      guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("bad shape '\(text)'; use NxK") }
      return (parts[0], parts[1])
    }
    let rowCounts = try list(m).map { try positive($0, "m") }
    let threadCounts = try list(threads).map { try positive($0, "threads") }
    let modeList = try list(modes).map { name throws(ValidationError) -> CPUBackend.Mode in
      guard let mode = CPUBackend.Mode(rawValue: name) else { throw ValidationError("unknown mode '\(name)'") }
      return mode
    }
    let opList = try list(ops)
    let timer = Timer(repeats: max(repeats, 1))

    var report = BenchReport(
      instructionSet: InstructionSet.best.rawValue, loadAverage: loadAverage(), processors: activeProcessors(),
      repeats: max(repeats, 1), hot: hot)
    for count in threadCounts {
      report.readBandwidth[String(count)] = ReadProbe(mebibytes: bandwidthMiB).gigabytesPerSecond(threads: count, timer: timer)
    }

    for shape in shapeList {
      if let python = openblas, opList.contains("linear") {
        let measured = try OpenBLASReference.measure(
          python: python, script: openblasScript, n: shape.n, k: shape.k, m: rowCounts, threads: threadCounts,
          repeats: max(repeats, 1))
        report.openBLASKernel = measured.kernel
        report.openBLAS += measured.results
      }
      let workload = Workload(n: shape.n, k: shape.k, minimumBytes: hot ? 0 : 160 << 20)
      for threadCount in threadCounts {
        let bandwidth = report.readBandwidth[String(threadCount)] ?? 0
        if opList.contains("linear") {
          for rows in rowCounts {
            let baseline = workload.denseSeconds(m: rows, threads: threadCount, timer: timer)
            for format in formatList {
              for mode in modeList where mode == .exact || format.hasFastMode {
                let seconds = try workload.linearSeconds(
                  format: format, m: rows, threads: threadCount, mode: mode, timer: timer)
                var result = BenchResult(
                  op: rows <= 8 ? "gemv" : "gemm", format: format.rawValue, n: shape.n, k: shape.k, m: rows,
                  threads: threadCount, mode: mode.rawValue, seconds: seconds,
                  weightBytes: workload.weightBytes(format), baselineSeconds: baseline, readBandwidth: bandwidth)
                if mode == .fast {
                  let error = try workload.fastModeError(format: format, m: rows)
                  result.fastMaxRelativeError = error.maxRelative
                  result.fastRMSRelativeError = error.rmsRelative
                }
                report.results.append(result)
              }
            }
          }
        }
        for format in formatList where !format.isDense {
          if opList.contains("quantize"),
            let seconds = try workload.quantizeSeconds(format: format, threads: threadCount, timer: timer)
          {
            report.results.append(
              BenchResult(
                op: "quantize", format: format.rawValue, n: shape.n, k: shape.k, m: 0, threads: threadCount,
                mode: "-", seconds: seconds, weightBytes: workload.weightBytes(format), baselineSeconds: nil,
                readBandwidth: bandwidth))
          }
          if opList.contains("dequantize") {
            let seconds = try workload.dequantizeSeconds(format: format, threads: threadCount, timer: timer)
            report.results.append(
              BenchResult(
                op: "dequantize", format: format.rawValue, n: shape.n, k: shape.k, m: 0, threads: threadCount,
                mode: "-", seconds: seconds, weightBytes: workload.weightBytes(format), baselineSeconds: nil,
                readBandwidth: bandwidth))
          }
        }
      }
    }
    report.attachOpenBLASRatios()
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
      print(report.table())
    }
  }

  private func list(_ text: String) throws(ValidationError) -> [String] {
    let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !items.isEmpty else { throw ValidationError("empty list '\(text)'") }
    return items
  }

  private func positive(_ text: String, _ name: String) throws(ValidationError) -> Int {
    guard let value = Int(text), value > 0 else { throw ValidationError("\(name) must be a positive integer, got '\(text)'") }
    return value
  }
}

/// The 1-minute load average, to judge how noisy the run was.
func loadAverage() -> Double {
  guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
    let first = text.split(separator: " ").first, let value = Double(first)
  else { return -1 }
  return value
}

/// Processors this process may run on (its affinity mask on Linux), as the kernels and bnb-patch size their pools.
func activeProcessors() -> Int { activeProcessorCount() }
