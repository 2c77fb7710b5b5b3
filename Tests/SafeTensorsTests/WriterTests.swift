import Foundation
import QuantCore
import TestSupport
import Testing

@testable import SafeTensors

@Suite("Writing files byte-identical to Python's safetensors")
struct WriterTests {
  static let pythonFiles = [
    "safetensors/all_dtypes.safetensors",
    "safetensors/sharded/model-00001-of-00003.safetensors",
    "safetensors/sharded/model-00002-of-00003.safetensors",
    "safetensors/sharded/model-00003-of-00003.safetensors",
    "hf/tiny-llama-bnb-nf4-dq/model.safetensors",
    "hf/tiny-llama-bnb-int8/model.safetensors",
  ]

  @Test("All tensors at hand", arguments: pythonFiles)
  func directWriteMatchesPython(_ path: String) throws {
    let original = TestFiles.fixture(path)
    let file = try SafeTensorsFile(contentsOf: original)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // Shuffled input: the reference order must not depend on the order tensors are given in.
    let tensors = try file.tensorNames.reversed().map { NamedTensor($0, try #require(try file.tensor(named: $0))) }
    let output = folder.appending(path: "out.safetensors")
    try SafeTensorsWriter.write(tensors, metadata: file.metadata, to: output)
    #expect(try Data(contentsOf: output) == Data(contentsOf: original))
    #expect(try TestFiles.contents(of: folder) == ["out.safetensors"])
  }

  @Test("Streamed one tensor at a time", arguments: pythonFiles)
  func streamingWriteMatchesPython(_ path: String) throws {
    let original = TestFiles.fixture(path)
    let file = try SafeTensorsFile(contentsOf: original)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appending(path: "out.safetensors")
    let writer = try SafeTensorsWriter(url: output, metadata: file.metadata)
    for name in file.tensorNames.shuffled() { try writer.add(try #require(try file.tensor(named: name)), named: name) }
    #expect(!FileManager.default.fileExists(atPath: output.path))
    try writer.finish()
    #expect(try Data(contentsOf: output) == Data(contentsOf: original))
    #expect(try TestFiles.contents(of: folder) == ["out.safetensors"])
  }

  @Test("Copied from the file in chunks", arguments: pythonFiles)
  func chunkedCopyMatchesPython(_ path: String) throws {
    let original = TestFiles.fixture(path)
    let file = try SafeTensorsFile(contentsOf: original)
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appending(path: "out.safetensors")
    let writer = try SafeTensorsWriter(url: output, metadata: file.metadata)
    for name in file.tensorNames { try writer.addCopy(of: name, in: file, named: name) }
    #expect(throws: SafeTensorsError.tensorNotFound(file: original.path, tensor: "missing")) {
      try writer.addCopy(of: "missing", in: file, named: "missing")
    }
    try writer.finish()
    #expect(try Data(contentsOf: output) == Data(contentsOf: original))
  }

  @Test func insertionOrderAndPadding() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appending(path: "ordered.safetensors")
    let writer = try SafeTensorsWriter(url: output, metadata: [:], order: .insertion)
    try writer.add(try Tensor([UInt8(1), 2, 3]), named: "b")
    try writer.add(try Tensor([Float(1), 2]), named: "a")
    #expect(throws: SafeTensorsError.duplicateTensor(file: output.path, tensor: "a")) {
      try writer.add(try Tensor([Float(1)]), named: "a")
    }
    let header = try writer.finish()
    #expect(header.entries.map(\.name) == ["b", "a"])
    let reread = try SafeTensorsFile(contentsOf: output)
    #expect(reread.tensorNames == ["b", "a"])
    #expect(reread.header.length % 8 == 0)
    #expect(reread.metadata.isEmpty)
    #expect(try reread.tensor(named: "a")?.floats() == [1, 2])
    let raw = try Data(contentsOf: output)
    let json = String(decoding: raw[8..<(8 + reread.header.length)], as: UTF8.self)
    #expect(json.hasPrefix("{\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}"))
    #expect(json.hasSuffix("}") || json.hasSuffix(" "))
  }

  @Test func discardedWriterLeavesNothing() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    do {
      let writer = try SafeTensorsWriter(url: folder.appending(path: "never.safetensors"))
      try writer.add(try Tensor([Float(1), 2]), named: "x")
    }
    #expect(try TestFiles.contents(of: folder).isEmpty)
  }

  @Test func shardsSplitBySizeAndReadBack() throws {
    let source = try SafeTensorsCheckpoint(contentsOf: TestFiles.fixture("safetensors/sharded"))
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let writer = ShardedSafeTensorsWriter(folder: folder, maximumShardSize: 400)
    for name in source.tensorNames { try writer.add(try #require(try source.tensor(named: name)), named: name) }
    let written = try writer.finish()
    #expect(written.last == SafeTensorsCheckpoint.indexFileName)
    #expect(written.first == "model-00001-of-0000\(written.count - 1).safetensors")
    #expect(try TestFiles.contents(of: folder) == written.sorted())
    let reread = try SafeTensorsCheckpoint(contentsOf: folder)
    #expect(Set(reread.tensorNames) == Set(source.tensorNames))
    for name in source.tensorNames {
      #expect(try reread.tensor(named: name)?.bytes == source.tensor(named: name)?.bytes)
    }
    for file in reread.files { #expect(file.entries.reduce(0) { $0 + $1.byteCount } <= 400) }
    #expect(reread.totalByteCount == source.totalByteCount)
  }

  @Test func oneShardIsAPlainModelFile() throws {
    let folder = try TestFiles.scratchFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let writer = ShardedSafeTensorsWriter(folder: folder)
    try writer.add(try Tensor([Float(1), 2]), named: "x")
    #expect(try writer.finish() == ["model.safetensors"])
    #expect(try TestFiles.contents(of: folder) == ["model.safetensors"])
  }

  @Test func shardNames() {
    #expect(ShardedSafeTensorsWriter.shardName(1, of: 3) == "model-00001-of-00003.safetensors")
    #expect(ShardedSafeTensorsWriter.shardName(12, of: 123_456) == "model-00012-of-123456.safetensors")
  }
}
