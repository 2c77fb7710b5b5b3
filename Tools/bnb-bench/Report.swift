import Foundation

/// One measured operation.
struct BenchResult: Encodable {
  var op: String
  var format: String
  var n: Int
  var k: Int
  var m: Int
  var threads: Int
  var mode: String
  var seconds: Double
  var weightBytes: Int
  var baselineSeconds: Double?
  var readBandwidth: Double
  /// OpenBLAS sgemm/sgemv on the same shape, M and threads (with `--openblas`).
  var openBLASSeconds: Double?
  /// Fast mode only: max |y_fast − y_exact| / max |y_exact| on this workload.
  var fastMaxRelativeError: Double?
  /// Fast mode only: ‖y_fast − y_exact‖ / ‖y_exact‖.
  var fastRMSRelativeError: Double?

  /// Weight bytes per second, in GB/s.
  var weightGBps: Double { Double(weightBytes) / seconds / 1e9 }
  /// 2·M·N·K / t for linear, elements per second (G/s) for quantize/dequantize.
  var rate: Double { m > 0 ? 2 * Double(m * n * k) / seconds / 1e9 : Double(n * k) / seconds / 1e9 }
  /// Speed relative to the dense float32 kernel of the same shape and thread count.
  var speedupOverDense: Double? { baselineSeconds.map { $0 / seconds } }
  /// Speed relative to OpenBLAS float32 of the same shape, M and thread count.
  var speedupOverOpenBLAS: Double? { openBLASSeconds.map { $0 / seconds } }
  /// Weight GB/s as a fraction of the read bandwidth.
  var fractionOfReadBandwidth: Double { readBandwidth > 0 ? weightGBps / readBandwidth : 0 }

  enum CodingKeys: String, CodingKey {
    case op, format, n, k, m, threads, mode, seconds, weightBytes, baselineSeconds, readBandwidth
    case openBLASSeconds, speedupOverOpenBLAS
    case weightGBps, rate, speedupOverDense, fractionOfReadBandwidth, fastMaxRelativeError, fastRMSRelativeError
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(op, forKey: .op)
    try container.encode(format, forKey: .format)
    try container.encode(n, forKey: .n)
    try container.encode(k, forKey: .k)
    try container.encode(m, forKey: .m)
    try container.encode(threads, forKey: .threads)
    try container.encode(mode, forKey: .mode)
    try container.encode(seconds, forKey: .seconds)
    try container.encode(weightBytes, forKey: .weightBytes)
    try container.encodeIfPresent(baselineSeconds, forKey: .baselineSeconds)
    try container.encode(readBandwidth, forKey: .readBandwidth)
    try container.encodeIfPresent(openBLASSeconds, forKey: .openBLASSeconds)
    try container.encodeIfPresent(speedupOverOpenBLAS, forKey: .speedupOverOpenBLAS)
    try container.encode(weightGBps, forKey: .weightGBps)
    try container.encode(rate, forKey: .rate)
    try container.encodeIfPresent(speedupOverDense, forKey: .speedupOverDense)
    try container.encode(fractionOfReadBandwidth, forKey: .fractionOfReadBandwidth)
    try container.encodeIfPresent(fastMaxRelativeError, forKey: .fastMaxRelativeError)
    try container.encodeIfPresent(fastRMSRelativeError, forKey: .fastRMSRelativeError)
  }
}

/// Everything one run measured.
struct BenchReport: Encodable {
  var instructionSet: String
  var loadAverage: Double
  var processors: Int
  var repeats: Int
  var hot: Bool
  /// Read bandwidth in GB/s by thread count.
  var readBandwidth: [String: Double] = [:]
  var results: [BenchResult] = []
  /// The BLAS numpy loaded and the kernel OpenBLAS picked (with `--openblas`).
  var openBLASKernel: String?
  /// OpenBLAS float32 timings of this run (with `--openblas`).
  var openBLAS: [OpenBLASReference.Result] = []

  /// Sets each linear result's OpenBLAS time from the matching OpenBLAS measurement.
  mutating func attachOpenBLASRatios() {
    for index in results.indices where results[index].op == "gemv" || results[index].op == "gemm" {
      let r = results[index]
      results[index].openBLASSeconds =
        openBLAS.first { $0.n == r.n && $0.k == r.k && $0.m == r.m && $0.threads == r.threads }?.seconds
    }
  }

  func table() -> String {
    var lines = [
      "bnb-bench: SIMD \(instructionSet), \(processors) processors, load average \(String(format: "%.2f", loadAverage)), "
        + "median of \(repeats), weights \(hot ? "hot (one copy)" : "rotated through ≥ 160 MiB")",
      "read bandwidth: "
        + readBandwidth.sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }.map {
          "\($0.key)T \(String(format: "%.1f", $0.value)) GB/s"
        }
        .joined(separator: ", "),
      openBLASKernel.map { "OpenBLAS: \($0)" } ?? "OpenBLAS: not measured (--openblas PYTHON)",
      "",
      pad([
        "op", "format", "N×K", "M", "T", "mode", "ms", "weight GB/s", "GFLOP/s | Gelem/s", "× f32", "× OpenBLAS", "× read BW",
        "fast err (max, rms)",
      ]),
    ]
    for r in results {
      lines.append(
        pad([
          r.op, r.format, "\(r.n)×\(r.k)", r.m > 0 ? "\(r.m)" : "-", "\(r.threads)", r.mode,
          String(format: "%.3f", r.seconds * 1e3), String(format: "%.2f", r.weightGBps), String(format: "%.2f", r.rate),
          r.speedupOverDense.map { String(format: "%.2f", $0) } ?? "-",
          r.speedupOverOpenBLAS.map { String(format: "%.2f", $0) } ?? "-", String(format: "%.2f", r.fractionOfReadBandwidth),
          r.fastMaxRelativeError.map { String(format: "%.1e, %.1e", $0, r.fastRMSRelativeError ?? 0) } ?? "",
        ]))
    }
    for o in openBLAS {
      lines.append(
        pad([
          "openblas", "f32", "\(o.n)×\(o.k)", "\(o.m)", "\(o.threads)", "-", String(format: "%.3f", o.seconds * 1e3),
          String(format: "%.2f", Double(o.n * o.k * 4) / o.seconds / 1e9), String(format: "%.2f", o.gflops), "-", "1.00",
          "-", "",
        ]))
    }
    return lines.joined(separator: "\n")
  }

  private func pad(_ cells: [String]) -> String {
    let widths = [10, 9, 11, 4, 3, 6, 9, 12, 18, 7, 10, 9, 0]
    return zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
  }
}
