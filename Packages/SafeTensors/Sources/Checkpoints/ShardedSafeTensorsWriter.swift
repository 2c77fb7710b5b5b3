public import Foundation
public import QuantCore

/// Writes a checkpoint into a folder as `model.safetensors`, or as shards
/// `model-00001-of-0000N.safetensors` plus `model.safetensors.index.json` once it exceeds the shard size.
///
/// Shards are filled in the order tensors are added, as `huggingface_hub`'s splitter does: a tensor
/// that would push the current shard past `maximumShardSize` starts a new shard (a tensor larger than
/// the limit gets a shard of its own). Each shard is streamed through a ``SafeTensorsWriter``.
public final class ShardedSafeTensorsWriter {
  /// The folder written into (it must exist).
  public let folder: URL
  /// The largest number of tensor bytes per shard.
  public let maximumShardSize: Int
  /// The metadata written into every shard.
  public let metadata: SafeTensorsMetadata
  private var current: SafeTensorsWriter?
  private var currentNames: [String] = []
  private var finishedShards: [(temporary: URL, names: [String])] = []
  private var totalSize = 0
  private var finished = false

  /// The default shard size: 5 GB, as transformers' `save_pretrained` used for years.
  public static let defaultMaximumShardSize = 5_000_000_000

  /// Starts a checkpoint.
  ///
  /// - Parameters:
  ///   - folder: An existing folder.
  ///   - maximumShardSize: Tensor bytes per shard.
  ///   - metadata: The metadata of every shard.
  public init(folder: URL, maximumShardSize: Int = defaultMaximumShardSize, metadata: SafeTensorsMetadata = ["format": "pt"]) {
    self.folder = folder
    self.maximumShardSize = max(1, maximumShardSize)
    self.metadata = metadata
  }

  deinit { discard() }

  /// The number of tensor bytes added.
  public var byteCount: Int { totalSize }

  /// Adds a tensor to the current shard, or to a new one when it would overflow.
  ///
  /// - Parameters:
  ///   - tensor: The tensor.
  ///   - name: Its unique name.
  /// - Throws: `SafeTensorsError` on I/O failure or a duplicate name.
  public func add(_ tensor: Tensor, named name: String) throws(SafeTensorsError) {
    try shard(for: tensor.byteCount, named: name).add(tensor, named: name)
    currentNames.append(name)
    totalSize += tensor.byteCount
  }

  /// Adds a tensor of another file, copied from it when the shard is finished (see
  /// ``SafeTensorsWriter/addCopy(of:in:named:)``).
  ///
  /// - Parameters:
  ///   - source: The tensor's name in `file`.
  ///   - file: The file holding it.
  ///   - name: Its name here.
  /// - Throws: `SafeTensorsError` on I/O failure, a missing source or a duplicate name.
  public func addCopy(of source: String, in file: SafeTensorsFile, named name: String) throws(SafeTensorsError) {
    guard let entry = file.entry(named: source) else { throw .tensorNotFound(file: file.url.path, tensor: source) }
    try shard(for: entry.byteCount, named: name).addCopy(of: source, in: file, named: name)
    currentNames.append(name)
    totalSize += entry.byteCount
  }

  /// The writer of the shard the next tensor of `byteCount` bytes goes into (starting a new one if needed).
  private func shard(for byteCount: Int, named name: String) throws(SafeTensorsError) -> SafeTensorsWriter {
    guard !finished else {
      throw .invalidUse(file: folder.path, reason: "tensor '\(name)' added after the checkpoint was finished")
    }
    if let writer = current, writer.dataByteCount > 0, writer.dataByteCount + byteCount > maximumShardSize {
      try closeShard()
    }
    if let current { return current }
    let writer = try SafeTensorsWriter(
      url: folder.appending(path: ".shard-\(finishedShards.count + 1).safetensors.partial"), metadata: metadata)
    current = writer
    return writer
  }

  private func closeShard() throws(SafeTensorsError) {
    guard let writer = current else { return }
    try writer.finish()
    finishedShards.append((writer.url, currentNames))
    current = nil
    currentNames = []
  }

  /// Finishes the last shard, gives the shards their final names and writes the index when sharded.
  ///
  /// - Returns: The files written (shards, then the index when there is one), relative to `folder`.
  /// - Throws: `SafeTensorsError` on I/O failure.
  @discardableResult
  public func finish() throws(SafeTensorsError) -> [String] {
    guard !finished else { throw .invalidUse(file: folder.path, reason: "the checkpoint was already finished") }
    if current == nil && finishedShards.isEmpty {
      current = try SafeTensorsWriter(url: folder.appending(path: ".shard-1.safetensors.partial"), metadata: metadata)
    }
    try closeShard()
    finished = true
    if finishedShards.count == 1 {
      try Platform.rename(finishedShards[0].temporary.path, to: folder.appending(path: SafeTensorsCheckpoint.singleFileName).path)
      return [SafeTensorsCheckpoint.singleFileName]
    }
    var weightMap: [String: String] = [:]
    var written: [String] = []
    for (number, shard) in finishedShards.enumerated() {
      let name = ShardedSafeTensorsWriter.shardName(number + 1, of: finishedShards.count)
      try Platform.rename(shard.temporary.path, to: folder.appending(path: name).path)
      for tensor in shard.names { weightMap[tensor] = name }
      written.append(name)
    }
    let index = SafeTensorsIndex(weightMap: weightMap, totalSize: totalSize)
    let indexURL = folder.appending(path: SafeTensorsCheckpoint.indexFileName)
    do {
      try Data(index.fileContents.utf8).write(to: indexURL, options: .atomic)
    } catch {
      throw .io(file: indexURL.path, operation: "write", reason: error.localizedDescription)
    }
    written.append(SafeTensorsCheckpoint.indexFileName)
    return written
  }

  /// Abandons the checkpoint, removing shards not yet given their final names.
  public func discard() {
    current?.discard()
    current = nil
    if !finished {
      for shard in finishedShards { Platform.remove(shard.temporary.path) }
      finishedShards = []
      finished = true
    }
  }

  /// `model-00001-of-00003.safetensors`.
  ///
  /// - Parameters:
  ///   - number: The shard number, from 1.
  ///   - count: The number of shards.
  public static func shardName(_ number: Int, of count: Int) -> String {
    func padded(_ value: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, 5 - text.count)) + text
    }
    return "model-\(padded(number))-of-\(padded(count)).safetensors"
  }
}
