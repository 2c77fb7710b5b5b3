import ArgumentParser
import BitsAndBytes
import Foundation
import LanguageModels
import ModelPatcher

/// `bnb-bench decode`: prefill and decode tokens/s of a synthetic Llama-3.2-1B-shaped model in each format,
/// next to the bandwidth bound and the dense float32 GEMM rate measured in the same run.
struct DecodeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "decode",
    abstract: "Prefill and decode tokens/s of a synthetic Llama-3.2-1B-shaped model.",
    discussion: """
      Writes a bfloat16 checkpoint of random weights with the real shapes (2.5 GB) to --folder (a temporary
      folder by default, removed afterwards), loads it in each format (quantized at load) and times a
      prefill of each length, then --decode-tokens single-token steps after the first prefill.
      Bound: bytes one token reads (all projection weights incl. the tied lm_head, the KV cache) ÷ the
      read bandwidth of this run. Prefill is compared with the dense f32 GEMM rate of this run.
      Build with -c release.
      """)

  // The root command owns --formats, --threads, --bandwidth-mib and --json (ArgumentParser gives a name to the
  // first command that declares it), so these carry their own names.
  @Option(name: .customLong("decode-formats"), help: "Comma-separated formats: nf4, nf4-dq, int8, fp8, bf16.")
  var formats = "nf4,nf4-dq,int8,fp8,bf16"

  @Option(name: .customLong("decode-threads"), help: "Comma-separated thread counts.")
  var threads = "1,2"

  @Option(help: "Comma-separated prefill lengths.")
  var prefill = "128,512"

  @Option(help: "Decode steps timed after the first prefill.")
  var decodeTokens = 32

  @Option(help: "Decoder layers (16 is Llama 3.2 1B; fewer for a quick run).")
  var layers = 16

  @Option(help: "Where to write the synthetic checkpoint (kept if given).")
  var folder: String?

  @Option(name: .customLong("decode-bandwidth-mib"), help: "Size of the read-bandwidth buffer in MiB.")
  var bandwidthMiB = 1024

  @Flag(name: .customLong("decode-json"), help: "Print JSON instead of a table.")
  var json = false

  func run() throws {
    var shape = SyntheticLlama.llama32OneB
    shape.layers = layers
    let formatList = formats.split(separator: ",").map(String.init)
    for name in formatList where DecodeFormat(rawValue: name) == nil {
      throw ValidationError("unknown format '\(name)'; choose from \(DecodeFormat.allCases.map(\.rawValue))")
    }
    let threadCounts = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
    let lengths = prefill.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
    guard !threadCounts.isEmpty, !lengths.isEmpty, decodeTokens > 1 else {
      throw ValidationError("--threads and --prefill need positive integers, --decode-tokens at least 2")
    }
    let directory: URL
    if let folder {
      directory = URL(filePath: folder)
    } else {
      directory = FileManager.default.temporaryDirectory.appending(path: "bnb-bench-decode-\(UUID().uuidString)")
    }
    defer { if folder == nil { try? FileManager.default.removeItem(at: directory) } }
    if !FileManager.default.fileExists(atPath: directory.appending(path: "model.safetensors").path) {
      try shape.write(to: directory, seed: 2026)
    }

    let timer = Timer(repeats: 3)
    progress("checkpoint ready in \(directory.path)")
    var report = DecodeReport(
      instructionSet: InstructionSet.best.rawValue, loadAverage: loadAverage(), processors: activeProcessors(),
      layers: shape.layers, projectionParameters: shape.projectionParameters)
    for count in threadCounts {
      report.readBandwidth[String(count)] =
        ReadProbe(mebibytes: bandwidthMiB).gigabytesPerSecond(threads: count, timer: timer)
      report.denseGEMM[String(count)] = DenseRate.gflops(m: 128, n: shape.intermediate, k: shape.hidden, threads: count)
    }
    for name in formatList {
      guard let format = DecodeFormat(rawValue: name) else { continue }
      for count in threadCounts {
        let loadStart = ContinuousClock.now
        let model = try LanguageModel.load(directory: directory, quantizationJob: format.job(directory), threads: count)
        progress("\(name) \(count)T: loaded in \(ContinuousClock.now - loadStart)")
        let result = try measure(
          model, format: format, threads: count, shape: shape, lengths: lengths,
          bandwidth: report.readBandwidth[String(count)] ?? 0, gemm: report.denseGEMM[String(count)] ?? 0)
        report.results.append(result)
        progress(
          "\(name) \(count)T: prefill \(result.prefill.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.tokensPerSecond) tok/s" }), "
            + "decode \(result.decodeTokensPerSecond) tok/s, bound \(result.boundTokensPerSecond) tok/s")
      }
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
      print(report.table())
    }
  }

  private func measure(
    _ model: LanguageModel, format: DecodeFormat, threads: Int, shape: SyntheticLlama, lengths: [Int],
    bandwidth: Double, gemm: Double
  ) throws -> DecodeResult {
    let clock = ContinuousClock()
    func seconds(_ duration: Duration) -> Double {
      Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
    func prompt(_ length: Int) -> [Int] { (0..<length).map { ($0 &* 7919 &+ 13) % shape.vocabulary } }
    var result = DecodeResult(format: format.rawValue, threads: threads)
    // Warm-up: touch every weight once.
    _ = try model.logits(for: prompt(8), cache: model.makeCache())
    for length in lengths {
      let cache = model.makeCache()
      let start = clock.now
      _ = try model.logits(for: prompt(length), cache: cache)
      let elapsed = seconds(clock.now - start)
      progress("\(format.rawValue) \(threads)T: prefill \(length) in \(elapsed) s")
      result.prefill[String(length)] = PrefillFigure(
        tokensPerSecond: Double(length) / elapsed,
        gflops: shape.prefillFLOPs(positions: length) / elapsed / 1e9,
        ratioToDenseGEMM: gemm > 0 ? shape.prefillFLOPs(positions: length) / elapsed / 1e9 / gemm : 0)
    }
    // Decode after a prefill of the first length.
    let context = lengths[0]
    let cache = model.makeCache()
    var logits = try model.logits(for: prompt(context), cache: cache)
    var steps: [Double] = []
    for _ in 0..<decodeTokens {
      let token = logits.indices.max { logits[$0] < logits[$1] } ?? 0
      let start = clock.now
      logits = try model.logits(for: [token], cache: cache)
      steps.append(seconds(clock.now - start))
    }
    steps.sort()
    let median = steps[steps.count / 2]
    let footprint = model.memoryFootprint(including: cache)
    let kvBytesPerToken = 2 * shape.layers * shape.keyValueHeads * shape.headDimension * 4 * (context + decodeTokens / 2)
    result.weightBytes = footprint.weightBytes
    result.bytesPerToken = footprint.weightBytes + kvBytesPerToken
    result.decodeTokensPerSecond = 1 / median
    result.boundTokensPerSecond = bandwidth * 1e9 / Double(result.bytesPerToken)
    result.ratioToBound = result.decodeTokensPerSecond / max(result.boundTokensPerSecond, 1e-9)
    return result
  }
}

/// A progress line on standard error (the table comes at the end; these survive a timeout).
private func progress(_ line: String) {
  FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// The formats of the decode benchmark, as quantize-at-load jobs.
enum DecodeFormat: String, CaseIterable {
  case nf4
  case nf4DoubleQuant = "nf4-dq"
  case int8, fp8, bf16

  func job(_ directory: URL) -> QuantizationJob? {
    var job = QuantizationJob(model: directory, output: directory.appending(path: "unused"))
    switch self {
    case .nf4: job.format = "nf4"
    case .nf4DoubleQuant:
      job.format = "nf4"
      job.parameters["double_quant"] = .bool(true)
    case .int8: job.format = "int8"
    case .fp8: job.format = "fp8_e4m3"
    case .bf16: return nil
    }
    return job
  }
}

/// The dense float32 GEMM rate of this run, in GFLOP/s.
enum DenseRate {
  static func gflops(m: Int, n: Int, k: Int, threads: Int) -> Double {
    let backend = CPUBackend(threads: threads)
    let x = (0..<(m * k)).map { Float(($0 * 7919) % 1000) / 500 - 1 }
    let w = (0..<(n * k)).map { Float(($0 * 104_729) % 1000) / 50_000 - 0.01 }
    var y = [Float](repeating: 0, count: m * n)
    let seconds = x.withUnsafeBufferPointer { xs in
      w.withUnsafeBufferPointer { ws in
        y.withUnsafeMutableBufferPointer { ys -> Double in
          guard let xBase = xs.baseAddress, let wBase = ws.baseAddress, let yBase = ys.baseAddress else { return 0 }
          return Timer(repeats: 5).median { backend.denseLinear(x: xBase, weight: wBase, m: m, n: n, k: k, into: yBase) }
        }
      }
    }
    return seconds > 0 ? 2 * Double(m * n * k) / seconds / 1e9 : 0
  }
}
