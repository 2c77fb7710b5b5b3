import Foundation
import QuantCore
import TestSupport
import Testing

@testable import SafeTensors

@Suite("Reading files written by Python's safetensors")
struct ReaderTests {
  let file: SafeTensorsFile
  let expected: JSONValue

  init() throws {
    file = try SafeTensorsFile(contentsOf: TestFiles.fixture("safetensors/all_dtypes.safetensors"))
    expected = try JSONParser.parse(bytes: [UInt8](Data(contentsOf: TestFiles.fixture("safetensors/all_dtypes.json"))))
  }

  @Test func metadataAndHeaderLength() throws {
    #expect(file.header.length == expected["header_len"]?.numberValue?.intValue)
    // Python writes `__metadata__` from a hash map, so its order varies between runs.
    #expect(
      Dictionary(uniqueKeysWithValues: file.metadata.pairs.map { ($0.key, $0.value) }) == ["note": "fixture", "format": "pt"])
  }

  @Test func everyTensorMatchesPython() throws {
    let tensors = try #require(expected["tensors"]?.members)
    #expect(Set(file.tensorNames) == Set(tensors.map(\.key)))
    for member in tensors {
      let entry = try #require(file.entry(named: member.key))
      let tensor = try #require(try file.tensor(named: member.key))
      #expect(entry.dtype.safetensorsName == member.value["dtype"]?.stringValue, "\(member.key)")
      #expect(tensor.shape == member.value["shape"]?.elements?.compactMap { $0.numberValue?.intValue }, "\(member.key)")
      let offsets = member.value["data_offsets"]?.elements?.compactMap { $0.numberValue?.intValue }
      #expect([entry.start, entry.end] == offsets, "\(member.key)")
      let hex = tensor.bytes.map { String(format: "%02x", $0) }.joined()
      #expect(hex == member.value["hex"]?.stringValue, "\(member.key)")
    }
  }

  @Test func typedValuesDecode() throws {
    let f32 = try #require(try file.tensor(named: "f32"))
    #expect(try f32.floats() == [1.0, -0.5, 3.25, Float(bitPattern: 0x0001_16C2), -.infinity, 65504.0])
    let bf16 = try #require(try file.tensor(named: "bf16"))
    #expect(try bf16.floats()[0...1] == [1.0, -2.5])
    let e4m3 = try #require(try file.tensor(named: "f8_e4m3"))
    #expect(try e4m3.floats() == [1.0, -448.0, 0.015625, 0.0])
    let scalar = try #require(try file.tensor(named: "scalar_f32"))
    #expect(scalar.shape == [])
    #expect(try scalar.floats() == [3.5])
    let empty = try #require(try file.tensor(named: "empty_f32"))
    #expect(empty.shape == [0] && empty.byteCount == 0)
    #expect(try file.tensor(named: "missing") == nil)
    #expect(throws: SafeTensorsError.tensorNotFound(file: file.url.path, tensor: "missing")) {
      try file.requireTensor(named: "missing")
    }
  }

  @Test func tensorsOutliveTheFileObject() throws {
    var tensor: Tensor?
    do {
      let transient = try SafeTensorsFile(contentsOf: TestFiles.fixture("safetensors/all_dtypes.safetensors"))
      tensor = try transient.tensor(named: "i32")
    }
    #expect(try tensor?.scalars(as: Int32.self) == [Int32.min, Int32.max, 7])
  }

  @Test func shardedCheckpointThroughItsIndex() throws {
    let folder = TestFiles.fixture("safetensors/sharded")
    let checkpoint = try SafeTensorsCheckpoint(contentsOf: folder)
    #expect(checkpoint.files.count == 3)
    #expect(checkpoint.tensorNames.count == 7)
    let index = try SafeTensorsIndex(contentsOf: folder.appending(path: SafeTensorsCheckpoint.indexFileName))
    #expect(checkpoint.totalByteCount == index.totalSize)
    for (name, shard) in index.weightMap {
      let direct = try SafeTensorsFile(contentsOf: folder.appending(path: shard))
      #expect(try checkpoint.tensor(named: name)?.bytes == direct.tensor(named: name)?.bytes)
      #expect(checkpoint.file(containing: name)?.url.lastPathComponent == shard)
    }
    // The index written back is byte-identical to the one transformers' format produced.
    let original = try String(contentsOf: folder.appending(path: SafeTensorsCheckpoint.indexFileName), encoding: .utf8)
    #expect(index.fileContents == original)
  }

  @Test func singleFileAndFolderForms() throws {
    let folder = TestFiles.fixture("hf/tiny-llama-bnb-nf4-dq")
    let viaFolder = try SafeTensorsCheckpoint(contentsOf: folder)
    let viaFile = try SafeTensorsCheckpoint(contentsOf: folder.appending(path: "model.safetensors"))
    #expect(viaFolder.tensorNames == viaFile.tensorNames)
    #expect(viaFolder.metadata == ["format": "pt"])
  }
}
