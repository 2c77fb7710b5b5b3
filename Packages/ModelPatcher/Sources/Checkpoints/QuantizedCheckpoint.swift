public import Foundation
public import QuantCore
import SafeTensors

/// A checkpoint read back through the registry: which weights are quantized (and by which format)
/// and which tensors are plain.
///
/// Quantized tensors are decoded lazily (``quantizedTensor(named:)``) from the memory-mapped files, so
/// opening a 70B checkpoint costs little memory.
public struct QuantizedCheckpoint: Sendable {
  /// One stored tensor: a quantized weight with its format, or a plain tensor.
  public struct Item: Sendable, Equatable {
    /// The weight's (or plain tensor's) key.
    public var name: String
    /// The format that stored it, or `nil` for a plain tensor.
    public var format: String?
    /// The logical shape (the original shape for a quantized weight).
    public var shape: [Int]
    /// The stored dtype of the main tensor, or the original dtype for a quantized weight.
    public var dtype: DType
    /// The bytes stored for it, companions included.
    public var storedBytes: Int
    /// The checkpoint keys it occupies (the weight and its companions).
    public var keys: [String]

    /// The number of logical elements.
    public var elementCount: Int { shape.reduce(1, *) }
  }

  /// The model folder or file.
  public let input: ModelInput
  /// Every weight and plain tensor, in checkpoint order.
  public let items: [Item]

  /// The bitsandbytes configuration from `config.json`, if any.
  public var bitsAndBytesConfig: BitsAndBytesConfig? { try? input.bitsAndBytesConfig() }

  private let registry: QuantRegistry

  /// Reads a checkpoint: every name is offered to every enabled format (in registry order), and the
  /// first format that recognises a weight claims it and its companion tensors.
  ///
  /// - Parameters:
  ///   - url: A model folder or `.safetensors` file.
  ///   - registry: Where formats are looked up.
  /// - Throws: `ModelPatcherError` for unreadable input or inconsistent quantized tensors.
  public init(url: URL, registry: QuantRegistry) throws(ModelPatcherError) {
    let input = try ModelInput(url: url)
    let source = input.checkpoint
    let formats = registry.formats.filter(\.isEnabled).map(\.format)
    let names = source.tensorNames
    let present = Set(names)
    var claimed: [String: (format: any QuantizationFormat, tensor: QuantizedTensor, keys: [String])] = [:]
    var consumed = Set<String>()
    for name in names where !consumed.contains(name) {
      for format in formats {
        let loaded: QuantizedTensor?
        do {
          loaded = try format.loadCheckpoint(weightName: name, from: source)
        } catch {
          throw .tensor(file: input.fileName(of: name), tensor: name, format: format.name, error: error)
        }
        guard let loaded else { continue }
        // The keys the format itself would write for this tensor (nested statistics included), plus the
        // companions it declares.
        let written = (try? format.checkpointTensors(for: loaded, weightName: name).map(\.name)) ?? []
        var keys = [name]
        for key in written + format.companionTensorNames(for: name)
        where key != name && present.contains(key) && !keys.contains(key) {
          keys.append(key)
        }
        claimed[name] = (format, loaded, keys)
        consumed.formUnion(keys)
        break
      }
    }
    var items: [Item] = []
    for name in names {
      if let claim = claimed[name] {
        let bytes = claim.keys.reduce(0) { $0 + (source.entry(named: $1)?.byteCount ?? 0) }
        items.append(
          Item(
            name: name, format: claim.format.name, shape: claim.tensor.shape, dtype: claim.tensor.originalDType,
            storedBytes: bytes,
            keys: claim.keys))
      } else if !consumed.contains(name), let entry = source.entry(named: name) {
        items.append(
          Item(name: name, format: nil, shape: entry.shape, dtype: entry.dtype, storedBytes: entry.byteCount, keys: [name]))
      }
    }
    self.input = input
    self.items = items
    self.registry = registry
  }

  /// The quantized weights.
  public var quantizedItems: [Item] { items.filter { $0.format != nil } }

  /// Decodes the stored state of a quantized weight.
  ///
  /// - Parameter name: The weight's key.
  /// - Returns: The quantized tensor, or `nil` when `name` is not a quantized weight.
  /// - Throws: `ModelPatcherError` when its tensors are inconsistent.
  public func quantizedTensor(named name: String) throws(ModelPatcherError) -> QuantizedTensor? {
    guard let item = items.first(where: { $0.name == name }), let formatName = item.format else { return nil }
    return try quantizedTensor(for: item, formatName: formatName)
  }

  func quantizedTensor(for item: Item, formatName: String) throws(ModelPatcherError) -> QuantizedTensor {
    let format: any QuantizationFormat
    do {
      format = try registry.format(named: formatName)
    } catch {
      throw .registry(error)
    }
    do throws(QuantError) {
      guard let tensor = try format.loadCheckpoint(weightName: item.name, from: input.checkpoint) else {
        throw QuantError.invalidState("\(item.name) is no longer recognised by \(formatName)")
      }
      return tensor
    } catch {
      throw .tensor(file: input.fileName(of: item.name), tensor: item.name, format: formatName, error: error)
    }
  }

  /// A plain (unquantized) tensor.
  ///
  /// - Parameter name: Its key.
  /// - Returns: The tensor, or `nil` when absent.
  public func plainTensor(named name: String) -> Tensor? {
    try? input.checkpoint.tensor(named: name)
  }

  /// Decodes a weight (quantized or plain) to float32 values, through its format.
  ///
  /// - Parameter item: A weight of this checkpoint.
  /// - Returns: The tensor in `dtype`, or its stored dtype when `nil`.
  /// - Throws: `ModelPatcherError` when decoding fails.
  public func decoded(_ item: Item, to dtype: DType? = nil) throws(ModelPatcherError) -> Tensor {
    guard let formatName = item.format else {
      guard let tensor = plainTensor(named: item.name) else {
        throw .invalidInput(file: input.fileName(of: item.name), tensor: item.name, message: "cannot be read")
      }
      guard let dtype, dtype != tensor.dtype, tensor.dtype.isFloatingPoint else { return tensor }
      do {
        return try tensor.converted(to: dtype)
      } catch {
        throw .tensor(file: input.fileName(of: item.name), tensor: item.name, format: "none", error: error)
      }
    }
    let quantized = try quantizedTensor(for: item, formatName: formatName)
    do {
      let format = try registry.format(named: formatName)
      return try format.dequantize(quantized, to: dtype ?? quantized.originalDType)
    } catch let error as RegistryError {
      throw .registry(error)
    } catch let error as QuantError {
      throw .tensor(file: input.fileName(of: item.name), tensor: item.name, format: formatName, error: error)
    } catch {
      throw .invalidInput(file: input.fileName(of: item.name), tensor: item.name, message: "\(error)")
    }
  }
}
