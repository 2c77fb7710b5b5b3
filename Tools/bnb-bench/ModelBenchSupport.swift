import ArgumentParser
import BitsAndBytes
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A Llama-shaped float16 checkpoint: embeddings, per layer q/k/v/o, gate/up/down and two norms, a
/// final norm and lm_head. Values are random float16 with magnitudes in [2⁻⁷, 2) (no NaN).
struct LlamaShape {
  var hidden: Int
  var intermediate: Int
  var keyValue: Int
  var vocabulary: Int
  var layers: Int
  var gigabytes: Double

  private var layerParameters: Int { 2 * hidden * hidden + 2 * keyValue * hidden + 3 * intermediate * hidden + 2 * hidden }
  private var outerParameters: Int { 2 * vocabulary * hidden + hidden }

  /// Layers written: `layers`, or as many as fit `gigabytes` (at least one).
  var layerCount: Int {
    if layers > 0 { return layers }
    return max(1, Int((gigabytes * 1e9 / 2 - Double(outerParameters)) / Double(layerParameters)))
  }

  /// The number of tensors.
  var tensorCount: Int { layerCount * 9 + 1 + (vocabulary > 0 ? 2 : 0) }

  /// The tensors' names and shapes, in file order.
  var tensors: [(name: String, shape: [Int])] {
    var result: [(String, [Int])] = []
    if vocabulary > 0 { result.append(("model.embed_tokens.weight", [vocabulary, hidden])) }
    for layer in 0..<layerCount {
      let prefix = "model.layers.\(layer)."
      result += [
        (prefix + "self_attn.q_proj.weight", [hidden, hidden]), (prefix + "self_attn.k_proj.weight", [keyValue, hidden]),
        (prefix + "self_attn.v_proj.weight", [keyValue, hidden]), (prefix + "self_attn.o_proj.weight", [hidden, hidden]),
        (prefix + "mlp.gate_proj.weight", [intermediate, hidden]), (prefix + "mlp.up_proj.weight", [intermediate, hidden]),
        (prefix + "mlp.down_proj.weight", [hidden, intermediate]), (prefix + "input_layernorm.weight", [hidden]),
        (prefix + "post_attention_layernorm.weight", [hidden]),
      ]
    }
    result.append(("model.norm.weight", [hidden]))
    if vocabulary > 0 { result.append(("lm_head.weight", [vocabulary, hidden])) }
    return result
  }

  /// Writes `config.json` and `model.safetensors` into `folder`.
  ///
  /// - Returns: The size of `model.safetensors` in bytes.
  func write(to folder: URL) throws -> Int {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let file = folder.appending(path: "model.safetensors")
    let writer = try SafeTensorsWriter(url: file)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for (name, shape) in tensors {
      let tensor = try Tensor(dtype: .float16, shape: shape) { bytes in
        if shape.count == 1 {
          for index in 0..<(bytes.count / 2) { bytes.storeBytes(of: UInt16(0x3C00), toByteOffset: 2 * index, as: UInt16.self) }
          return
        }
        let words = bytes.bindMemory(to: UInt64.self)
        for index in words.indices {
          state ^= state << 13
          state ^= state >> 7
          state ^= state << 17
          let exponent = ((state >> 10) & 0x0007_0007_0007_0007) &+ 0x0008_0008_0008_0008
          words[index] = (state & 0x83FF_83FF_83FF_83FF) | (exponent << 10)
        }
      }
      try writer.add(tensor, named: name)
    }
    try writer.finish()
    let config = """
      {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": \(hidden), \
      "intermediate_size": \(intermediate), "num_hidden_layers": \(layerCount), "vocab_size": \(vocabulary), \
      "torch_dtype": "float16", "tie_word_embeddings": false}
      """
    try Data(config.utf8).write(to: folder.appending(path: "config.json"))
    return try DiskProbe.size(of: file)
  }
}

/// Reading and writing files as fast as the machine allows, for the ratios of `bnb-bench model`.
enum DiskProbe {
  static let chunk = 8 << 20

  /// Seconds to read `url` whole with 8 MiB `pread`s into one buffer.
  static func readSeconds(_ url: URL) throws -> Double {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { throw ValidationError("cannot open \(url.path)") }
    defer { close(fd) }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buffer.deallocate() }
    let start = DispatchTime.now().uptimeNanoseconds
    var offset = 0
    while true {
      let count = pread(fd, buffer, chunk, off_t(offset))
      guard count > 0 else { break }
      offset += count
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  /// Seconds to write `bytes` into a new file at `url` with 8 MiB writes and `fsync` it (then removed).
  static func writeSeconds(bytes: Int, at url: URL) throws -> Double {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buffer.deallocate() }
    for index in 0..<chunk { buffer[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
    let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw ValidationError("cannot create \(url.path)") }
    defer { unlink(url.path) }
    let start = DispatchTime.now().uptimeNanoseconds
    var written = 0
    while written < bytes {
      let count = write(fd, buffer.baseAddress, min(chunk, bytes - written))
      guard count > 0 else {
        close(fd)
        throw ValidationError("cannot write \(url.path)")
      }
      written += count
    }
    fsync(fd)
    close(fd)
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
  }

  /// The bytes of a file, or of every file under a folder.
  static func size(of url: URL) throws -> Int {
    let manager = FileManager.default
    var isFolder: ObjCBool = false
    guard manager.fileExists(atPath: url.path, isDirectory: &isFolder) else { return 0 }
    if !isFolder.boolValue { return (try manager.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
    return try manager.contentsOfDirectory(atPath: url.path).reduce(0) { $0 + (try size(of: url.appending(path: $1))) }
  }
}

/// A child process's exit status, wall time and peak resident set.
struct ChildProcess {
  var status: Int32
  var seconds: Double
  /// Bytes (on Linux at least this process's resident set when the child started), or `nil` where the
  /// platform does not report it for one child.
  var peakResidentBytes: Int?

  /// Runs `path` with `arguments`, inheriting standard output and error, and waits for it.
  static func run(_ path: String, _ arguments: [String]) throws -> ChildProcess {
    #if canImport(Glibc)
      // Linux hands the spawning process's peak RSS to the child at exec (vfork-style spawn): reset this
      // process's peak to its current RSS first (`clear_refs` 5), so the child's figure is its own.
      try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
      var pid: pid_t = 0
      let argv = ([path] + arguments).map { strdup($0) }
      defer { for argument in argv { free(argument) } }
      let start = DispatchTime.now().uptimeNanoseconds
      let spawned = (argv + [nil]).withUnsafeBufferPointer { pointer -> Int32 in
        guard let base = pointer.baseAddress else { return EINVAL }
        return posix_spawn(&pid, path, nil, nil, base, environ)
      }
      guard spawned == 0 else { throw ValidationError("cannot start \(path): error \(spawned)") }
      var status: Int32 = 0
      var usage = rusage()
      while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      let exit = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
      return ChildProcess(status: exit, seconds: seconds, peakResidentBytes: Int(usage.ru_maxrss) * 1024)
    #else
      let process = Process()
      process.executableURL = URL(filePath: path)
      process.arguments = arguments
      let start = DispatchTime.now().uptimeNanoseconds
      try process.run()
      process.waitUntilExit()
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      return ChildProcess(status: process.terminationStatus, seconds: seconds, peakResidentBytes: nil)
    #endif
  }
}

/// One format's whole-model figures.
struct ModelBenchResult: Codable {
  var format: String
  /// `bnb-patch`, or `baseline` for the `--baseline-patch` executable.
  var tool: String
  /// `bnb-patch` wall time.
  var seconds: Double
  var outputBytes: Int
  /// Writing and syncing a file of `outputBytes`.
  var writeSeconds: Double
  var peakResidentBytes: Int?
  /// Input GB/s of `bnb-patch`.
  var inputGigabytesPerSecond: Double
  /// `seconds / (readSeconds + writeSeconds)`.
  var ratioToReadWrite: Double

  init(
    format: String, tool: String, seconds: Double, outputBytes: Int, writeSeconds: Double, peakResidentBytes: Int?,
    inputBytes: Int,
    readSeconds: Double
  ) {
    self.format = format
    self.tool = tool
    self.seconds = seconds
    self.outputBytes = outputBytes
    self.writeSeconds = writeSeconds
    self.peakResidentBytes = peakResidentBytes
    inputGigabytesPerSecond = Double(inputBytes) / seconds / 1e9
    ratioToReadWrite = seconds / (readSeconds + writeSeconds)
  }
}

/// Everything `bnb-bench model` measured in one run.
struct ModelBenchReport: Codable {
  var inputBytes: Int
  var layers: Int
  var tensors: Int
  var loadAverage: Double
  var processors: Int
  /// Reading the input once, page-cache warm.
  var readSeconds: Double
  var results: [ModelBenchResult] = []

  func table() -> String {
    func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
    var lines = [
      "input \(fixed(Double(inputBytes) / 1e9, 3)) GB fp16, \(layers) layers, \(tensors) tensors; read \(fixed(readSeconds, 3)) s "
        + "(\(fixed(Double(inputBytes) / readSeconds / 1e9, 2)) GB/s); \(processors) cores, load \(fixed(loadAverage, 2))",
      "format      tool       seconds  input GB/s  output GB  write+fsync s  ratio to read+write  peak RSS MB",
    ]
    for result in results {
      let rss = result.peakResidentBytes.map { String($0 >> 20) } ?? "-"
      lines.append(
        result.format.padding(toLength: 12, withPad: " ", startingAt: 0)
          + result.tool.padding(toLength: 9, withPad: " ", startingAt: 0) + fixed(result.seconds, 3).leftPadded(9)
          + fixed(result.inputGigabytesPerSecond, 3).leftPadded(12)
          + fixed(Double(result.outputBytes) / 1e9, 3).leftPadded(11) + fixed(result.writeSeconds, 3).leftPadded(15)
          + fixed(result.ratioToReadWrite, 2).leftPadded(21) + rss.leftPadded(13))
    }
    return lines.joined(separator: "\n")
  }
}

extension String {
  fileprivate func leftPadded(_ width: Int) -> String {
    count >= width ? self : String(repeating: " ", count: width - count) + self
  }
}
