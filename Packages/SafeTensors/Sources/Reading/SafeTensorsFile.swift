public import Foundation
public import QuantCore

/// A safetensors file, memory-mapped read-only and validated when opened.
///
/// Tensors are views of the mapping: nothing is copied. Each tensor returned has its own storage
/// that keeps the mapping alive; when a tensor is released, the pages it covered are handed back to
/// the kernel, so streaming over a large file keeps the resident set small.
///
/// ```swift
/// let file = try SafeTensorsFile(contentsOf: URL(filePath: "model.safetensors"))
/// let weight = try file.tensor(named: "model.layers.0.mlp.up_proj.weight")
/// ```
public final class SafeTensorsFile: TensorSource, Sendable {
  /// The file.
  public let url: URL
  /// The validated header.
  public let header: SafeTensorsHeader
  private let mapping: MappedFile
  private let entryIndex: [String: Int]

  /// Opens, maps and validates a safetensors file.
  ///
  /// - Parameter url: The file.
  /// - Throws: `SafeTensorsError` naming the file (and tensor) for I/O failures and every header problem.
  public init(contentsOf url: URL) throws(SafeTensorsError) {
    let path = url.path
    let mapping = try MappedFile(path: path)
    self.header = try SafeTensorsHeader(fileBytes: mapping.bytes, file: path)
    self.url = url
    self.mapping = mapping
    var index: [String: Int] = [:]
    for (offset, entry) in header.entries.enumerated() { index[entry.name] = offset }
    self.entryIndex = index
  }

  /// The header's `__metadata__`.
  public var metadata: SafeTensorsMetadata { header.metadata }
  /// The entries in data order.
  public var entries: [SafeTensorsEntry] { header.entries }
  /// The tensor names in data order.
  public var tensorNames: [String] { header.entries.map(\.name) }
  /// The size of the file in bytes.
  public var fileSize: Int { mapping.bytes.count }

  /// The entry for `name`, or `nil`.
  ///
  /// - Parameter name: A tensor name.
  public func entry(named name: String) -> SafeTensorsEntry? {
    entryIndex[name].map { header.entries[$0] }
  }

  /// The tensor called `name`, a view of the mapping, or `nil` when absent.
  ///
  /// - Parameter name: A tensor name.
  /// - Returns: The tensor (no copy).
  /// - Throws: Never in practice: entries were validated when the file was opened.
  public func tensor(named name: String) throws(QuantError) -> Tensor? {
    guard let entry = entry(named: name) else { return nil }
    return try tensor(for: entry)
  }

  /// The tensor called `name`, failing when absent.
  ///
  /// - Parameter name: A tensor name.
  /// - Returns: The tensor (no copy).
  /// - Throws: `SafeTensorsError.tensorNotFound`.
  public func requireTensor(named name: String) throws(SafeTensorsError) -> Tensor {
    guard let entry = entry(named: name) else { throw .tensorNotFound(file: url.path, tensor: name) }
    do {
      return try tensor(for: entry)
    } catch {
      throw .invalidTensorEntry(file: url.path, tensor: name, reason: error.description)
    }
  }

  private func tensor(for entry: SafeTensorsEntry) throws(QuantError) -> Tensor {
    let range = (header.dataStart + entry.start)..<(header.dataStart + entry.end)
    let region = UnsafeRawBufferPointer(rebasing: mapping.bytes[range])
    let mapping = self.mapping
    let storage = TensorStorage(borrowing: region) { mapping.dropPages(range) }
    return try Tensor(dtype: entry.dtype, shape: entry.shape, storage: storage)
  }
}
