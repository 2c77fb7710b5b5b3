import Foundation

/// OpenBLAS's sgemm/sgemv timed through numpy by `Tools/bench/openblas_sgemm.py`, in the same run as our
/// kernels, with `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` removed from its environment so OpenBLAS picks
/// its kernel itself.
enum OpenBLASReference {
  /// One OpenBLAS figure: `x[m, k] · w[n, k]ᵀ` in float32.
  struct Result: Codable {
    var n: Int
    var k: Int
    var m: Int
    var threads: Int
    var seconds: Double
    var gflops: Double
  }

  private struct ScriptOutput: Decodable {
    struct Library: Decodable {
      var internalAPI: String?
      var version: String?
      var architecture: String?
      var threadingLayer: String?

      enum CodingKeys: String, CodingKey {
        case internalAPI = "internal_api"
        case version, architecture
        case threadingLayer = "threading_layer"
      }
    }
    struct Row: Decodable {
      var m: Int
      var threads: Int
      var seconds: Double
      var gflops: Double
    }
    var numpy: String
    var blas: [Library]
    var results: [Row]
  }

  /// Runs the script and returns the kernel OpenBLAS reported and its timings.
  static func measure(python: String, script: String, n: Int, k: Int, m: [Int], threads: [Int], repeats: Int) throws
    -> (kernel: String, results: [Result])
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python.contains("/") ? python : "/usr/bin/env")
    let arguments = [
      script, "--shape", "\(n)x\(k)", "--m", m.map(String.init).joined(separator: ","), "--threads",
      threads.map(String.init).joined(separator: ","), "--repeats", String(repeats),
    ]
    process.arguments = python.contains("/") ? arguments : [python] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_CORETYPE"] = nil
    environment["OPENBLAS_L2_SIZE"] = nil
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw BenchError("\(python) \(script) exited with status \(process.terminationStatus)")
    }
    let decoded = try JSONDecoder().decode(ScriptOutput.self, from: data)
    let kernel =
      decoded.blas.map {
        "\($0.internalAPI ?? "?") \($0.version ?? "?") \($0.architecture ?? "?") (\($0.threadingLayer ?? "?"))"
      }
      .joined(separator: "; ")
    let results = decoded.results.map {
      Result(n: n, k: k, m: $0.m, threads: $0.threads, seconds: $0.seconds, gflops: $0.gflops)
    }
    return ("numpy \(decoded.numpy), " + (kernel.isEmpty ? "BLAS not reported (no threadpoolctl)" : kernel), results)
  }
}
