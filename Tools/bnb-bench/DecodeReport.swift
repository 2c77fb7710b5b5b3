import Foundation

/// One prefill length's figures.
struct PrefillFigure: Encodable {
  var tokensPerSecond: Double
  var gflops: Double
  var ratioToDenseGEMM: Double
}

/// One format at one thread count.
struct DecodeResult: Encodable {
  var format: String
  var threads: Int
  var prefill: [String: PrefillFigure] = [:]
  var decodeTokensPerSecond = 0.0
  var weightBytes = 0
  var bytesPerToken = 0
  var boundTokensPerSecond = 0.0
  var ratioToBound = 0.0
}

/// The whole `bnb-bench decode` run.
struct DecodeReport: Encodable {
  var instructionSet: String
  var loadAverage: Double
  var processors: Int
  var layers: Int
  var projectionParameters: Int
  var readBandwidth: [String: Double] = [:]
  var denseGEMM: [String: Double] = [:]
  var results: [DecodeResult] = []

  func table() -> String {
    var lines = [
      "bnb-bench decode: synthetic Llama-3.2-1B shape (\(layers) layers, \(projectionParameters / 1_000_000) M projection parameters), SIMD \(instructionSet), \(processors) processors, load average \(String(format: "%.2f", loadAverage))",
      "read bandwidth: "
        + readBandwidth.sorted { $0.key < $1.key }.map { "\($0.key)T \(String(format: "%.1f", $0.value)) GB/s" }
        .joined(separator: ", ")
        + "; dense f32 GEMM (128×8192×2048): "
        + denseGEMM.sorted { $0.key < $1.key }.map { "\($0.key)T \(String(format: "%.1f", $0.value)) GFLOP/s" }
        .joined(separator: ", "),
      "",
    ]
    let lengths = Set(results.flatMap { $0.prefill.keys }).sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
    var header = ["format", "T", "MB/token"]
    for length in lengths { header += ["prefill \(length) tok/s", "GFLOP/s", "× GEMM"] }
    header += ["decode tok/s", "bound tok/s", "× bound"]
    var rows = [header]
    for result in results {
      var row = [result.format, "\(result.threads)", String(format: "%.0f", Double(result.bytesPerToken) / 1e6)]
      for length in lengths {
        let figure = result.prefill[length]
        row += [
          String(format: "%.1f", figure?.tokensPerSecond ?? 0), String(format: "%.1f", figure?.gflops ?? 0),
          String(format: "%.2f", figure?.ratioToDenseGEMM ?? 0),
        ]
      }
      row += [
        String(format: "%.2f", result.decodeTokensPerSecond), String(format: "%.2f", result.boundTokensPerSecond),
        String(format: "%.2f", result.ratioToBound),
      ]
      rows.append(row)
    }
    let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
      lines.append(
        row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
          .joined(separator: "  "))
    }
    return lines.joined(separator: "\n")
  }
}
