public import QuantCore

/// The keys and values of every layer for the positions a model has seen, preallocated in chunks of
/// ``chunkPositions`` positions and grown as the sequence does.
///
/// One cache belongs to one sequence: pass it to every ``LanguageModel/logits(for:cache:)`` call of that
/// sequence. ``truncate(to:)`` keeps a common prefix (multi-turn chat reuses it). A cache also holds the
/// scratch buffers of the forward pass, so decoding allocates nothing per token. Not thread-safe: use one
/// cache from one task at a time.
///
/// Keys and values are stored as float32 (the default, exact) or, to halve the cache, as float16 or
/// bfloat16: new rows are rounded once when stored, and attention reads them widened back to float32.
public final class KVCache {
  /// Positions added per growth step.
  public static let chunkPositions = 256

  /// The number of positions stored.
  public private(set) var count = 0
  /// The token ids of the stored positions (a chat finds its common prefix with them).
  public private(set) var tokens: [Int] = []
  /// Whether the stored keys were rotated with LongRoPE's long factors.
  var usesLongFactors = false
  /// Positions the storage holds without growing.
  public private(set) var capacity = 0
  /// The model's layer count.
  public let layerCount: Int
  /// Floats per position per layer for keys (and for values): `key_value_heads × head_dim`.
  public let rowWidth: Int
  /// The longest sequence the model accepts.
  public let maximumPositions: Int
  /// The element type of the stored keys and values: float32, float16 or bfloat16.
  public let storage: DType

  private var keys: [UnsafeMutableRawPointer] = []
  private var values: [UnsafeMutableRawPointer] = []
  let workspace = Workspace()

  init(layerCount: Int, rowWidth: Int, maximumPositions: Int, storage: DType) {
    self.layerCount = layerCount
    self.rowWidth = rowWidth
    self.maximumPositions = maximumPositions
    self.storage = storage
  }

  deinit {
    for pointer in keys + values { pointer.deallocate() }
  }

  /// The dtypes a cache can store.
  public static let storageTypes: [DType] = [.float32, .float16, .bfloat16]

  /// Bytes of key/value storage allocated (capacity, not only the filled positions).
  public var byteCount: Int { 2 * layerCount * capacity * rowWidth * storage.byteSize }

  /// Forgets every position (the storage stays allocated).
  public func reset() {
    count = 0
    tokens.removeAll(keepingCapacity: true)
    usesLongFactors = false
  }

  /// Keeps the first `positions` positions (a common prefix) and forgets the rest.
  ///
  /// - Parameter positions: How many to keep; clamped to `0...count`.
  public func truncate(to positions: Int) {
    count = max(0, min(positions, count))
    tokens.removeLast(tokens.count - count)
  }

  /// Keeps the longest stored prefix that `tokens` starts with (at most `tokens.count - 1` positions, so
  /// at least one token is left to run) and returns the tokens still to run: a chat turn re-sends the
  /// whole conversation and only the new part is computed.
  ///
  /// - Parameter tokens: The full token sequence of the next call.
  /// - Returns: The suffix of `tokens` after the kept prefix.
  public func keepCommonPrefix(with tokens: [Int]) -> ArraySlice<Int> {
    var common = 0
    let limit = min(count, tokens.count - 1)
    while common < limit, self.tokens[common] == tokens[common] { common += 1 }
    truncate(to: common)
    return tokens[common...]
  }

  /// Makes room for `positions` more positions.
  func reserve(_ positions: Int) {
    let needed = count + positions
    guard needed > capacity else { return }
    let chunks = (needed + Self.chunkPositions - 1) / Self.chunkPositions
    let newCapacity = min(max(chunks * Self.chunkPositions, needed), max(maximumPositions, needed))
    let rowBytes = rowWidth * storage.byteSize
    for layer in 0..<layerCount {
      let newKeys = UnsafeMutableRawPointer.allocate(byteCount: max(newCapacity * rowBytes, 1), alignment: 64)
      let newValues = UnsafeMutableRawPointer.allocate(byteCount: max(newCapacity * rowBytes, 1), alignment: 64)
      if layer < keys.count {
        newKeys.copyMemory(from: keys[layer], byteCount: count * rowBytes)
        newValues.copyMemory(from: values[layer], byteCount: count * rowBytes)
        keys[layer].deallocate()
        values[layer].deallocate()
        keys[layer] = newKeys
        values[layer] = newValues
      } else {
        keys.append(newKeys)
        values.append(newValues)
      }
    }
    capacity = newCapacity
  }

  /// Where a layer's `rows` new keys and values are written, as float32 `[rows, rowWidth]`: the cache
  /// itself for float32 storage, staging buffers otherwise (``commit(layer:rows:)`` stores them).
  func newRows(layer: Int, rows: Int) -> (keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
    if storage == .float32 {
      let offset = count * rowWidth
      return (
        keys[layer].assumingMemoryBound(to: Float.self) + offset,
        values[layer].assumingMemoryBound(to: Float.self) + offset
      )
    }
    return (
      workspace.pointer("cache.newKeys", count: rows * rowWidth),
      workspace.pointer("cache.newValues", count: rows * rowWidth)
    )
  }

  /// Stores the staged rows of ``newRows(layer:rows:)`` (rounded to ``storage``) and returns float32
  /// views of the layer's keys and values for positions `0..<count + rows`.
  func commit(layer: Int, rows: Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>) {
    if storage == .float32 {
      return (
        UnsafePointer(keys[layer].assumingMemoryBound(to: Float.self)),
        UnsafePointer(values[layer].assumingMemoryBound(to: Float.self))
      )
    }
    let width = rowWidth
    let byteSize = storage.byteSize
    let total = (count + rows) * width
    let staged = newRows(layer: layer, rows: rows)
    let wideKeys = workspace.pointer("cache.wideKeys", count: total)
    let wideValues = workspace.pointer("cache.wideValues", count: total)
    for (source, target, wide) in [(staged.keys, keys[layer], wideKeys), (staged.values, values[layer], wideValues)] {
      let newBytes = UnsafeMutableRawBufferPointer(start: target + count * width * byteSize, count: rows * width * byteSize)
      // Rounding to half precision cannot fail for float16/bfloat16.
      try? ElementConversion.store(UnsafeBufferPointer(start: source, count: rows * width), as: storage, into: newBytes)
      ElementConversion.load(
        UnsafeRawBufferPointer(start: target, count: total * byteSize), as: storage,
        into: UnsafeMutableBufferPointer(start: wide, count: total))
    }
    return (UnsafePointer(wideKeys), UnsafePointer(wideValues))
  }

  /// Records that the positions of `newTokens` were written after ``count``.
  func advance(with newTokens: ArraySlice<Int>) {
    count += newTokens.count
    tokens.append(contentsOf: newTokens)
  }
}

/// Scratch buffers of a forward pass, grown to the largest chunk seen and reused.
final class Workspace {
  private var buffers: [String: UnsafeMutableBufferPointer<Float>] = [:]

  deinit {
    for buffer in buffers.values { buffer.deallocate() }
  }

  /// The start of a buffer of at least `count` floats, reused across calls (contents undefined).
  func pointer(_ name: String, count: Int) -> UnsafeMutablePointer<Float> {
    if let existing = buffers[name], existing.count >= count, let start = existing.baseAddress { return start }
    buffers[name]?.deallocate()
    let start = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    start.initialize(repeating: 0, count: max(count, 1))
    buffers[name] = UnsafeMutableBufferPointer(start: start, count: max(count, 1))
    return start
  }

  /// A buffer of `count` floats, reused across calls (contents undefined).
  func buffer(_ name: String, count: Int) -> UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: pointer(name, count: count), count: count)
  }
}
