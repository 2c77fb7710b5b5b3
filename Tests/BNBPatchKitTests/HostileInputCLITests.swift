import Foundation
import QuantCore
import SafeTensors
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What `bnb-patch` prints and returns for hostile files: names escaped for the terminal, special files
/// and resource bombs refused with exit 65 and a message that says what they are.
@Suite("bnb-patch and hostile inputs")
struct HostileInputCLITests {
  @Test("inspect escapes control and bidirectional characters of tensor names")
  func inspectEscapesNames() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appending(path: "names.safetensors")
    let hostile = ["clear\u{1B}[2J.weight", "evil\u{202E}txt.exe.weight", "bell\u{07}\u{85}.weight"]
    try SafeTensorsWriter.write(
      try hostile.map { NamedTensor($0, try Tensor(converting: [Float](repeating: 1, count: 4), to: .float16, shape: [2, 2])) },
      to: file)
    let result = await CLI.run(["inspect", file.path])
    #expect(result.status == 0)
    #expect(!result.output.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{202E}" || $0 == "\u{07}" || $0 == "\u{85}" })
    #expect(result.output.contains(#"clear\u{1B}[2J.weight"#))
    #expect(result.output.contains(#"evil\u{202E}txt.exe.weight"#))
    #expect(result.output.contains(#"bell\u{7}\u{85}.weight"#))
  }

  @Test("a job file that is a folder, a named pipe or an alias bomb exits 65 saying what it is")
  func hostileJobFiles() async throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let directory = await CLI.run(["--config", folder.path])
    #expect(directory.status == 65)
    #expect(directory.error.contains("it is a folder, not a file"), "\(directory.error)")
    let pipe = folder.appending(path: "job.yaml")
    #expect(mkfifo(pipe.path, 0o600) == 0)
    let fifo = await CLI.run(["--config", pipe.path])
    #expect(fifo.status == 65)
    #expect(fifo.error.contains("named pipe (FIFO)"), "\(fifo.error)")
    var lines = ["model: m", "output: o", "format: nf4", "parameters:", "  a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for (previous, name) in zip(["a", "b", "c", "d", "e", "f", "g", "h"], ["b", "c", "d", "e", "f", "g", "h", "i"]) {
      lines.append("  \(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]")
    }
    let bomb = try TestFiles.job(lines.joined(separator: "\n"), in: folder, name: "bomb.yaml")
    let expanded = await CLI.run(["--config", bomb])
    #expect(expanded.status == 65)
    #expect(expanded.error.contains("expands to more than 200000 values"), "\(expanded.error)")
  }
}
