import Foundation
import QuantCore
import TestSupport
import Testing

@testable import SafeTensors

@Suite("Tensors added in memory and copied from files interleave byte-identically to Python's files")
struct WriterMixedSourceTests {
  @Test(arguments: ["hf/tiny-llama-bnb-nf4-dq/model.safetensors", "safetensors/all_dtypes.safetensors"])
  func alternateAddAndCopy(_ path: String) throws {
    let original = TestFiles.fixture(path)
    let file = try SafeTensorsFile(contentsOf: original)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // A second copy of the input, so that copies come from two files.
    let twin = folder.appending(path: "twin.safetensors")
    try FileManager.default.copyItem(at: original, to: twin)
    let other = try SafeTensorsFile(contentsOf: twin)
    let output = folder.appending(path: "out.safetensors")
    let writer = try SafeTensorsWriter(url: output, metadata: file.metadata)
    for (index, name) in file.tensorNames.reversed().enumerated() {
      switch index % 3 {
      case 0: try writer.add(try #require(try file.tensor(named: name)), named: name)
      case 1: try writer.addCopy(of: name, in: file, named: name)
      default: try writer.addCopy(of: name, in: other, named: name)
      }
    }
    #expect(writer.dataByteCount == file.entries.reduce(0) { $0 + $1.byteCount })
    try writer.finish()
    #expect(try Data(contentsOf: output) == Data(contentsOf: original))
    #expect(try TestFiles.contents(of: folder) == ["out.safetensors", "twin.safetensors"])
  }

  @Test func copiesFromAFileThatShrankAreAnIOError() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = folder.appending(path: "in.safetensors")
    try SafeTensorsWriter.write([NamedTensor("w", try Tensor([Float](repeating: 1, count: 1000)))], to: input)
    let file = try SafeTensorsFile(contentsOf: input)
    let output = folder.appending(path: "out.safetensors")
    let writer = try SafeTensorsWriter(url: output)
    try writer.addCopy(of: "w", in: file, named: "w")
    // The copy happens when the file is finished: a truncated input is reported, and nothing is left.
    try FileHandle(forWritingTo: input).truncate(atOffset: 100)
    #expect(throws: SafeTensorsError.self) { try writer.finish() }
    #expect(try TestFiles.contents(of: folder) == ["in.safetensors"])
  }
}
