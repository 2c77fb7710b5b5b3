/// The keys and values of every layer for the positions a model has seen, preallocated in chunks of
/// ``chunkPositions`` positions and grown as the sequence does.
///
/// One cache belongs to one sequence: pass it to every ``LanguageModel/logits(for:cache:)`` call of that
/// sequence. ``truncate(to:)`` keeps a common prefix (multi-turn chat reuses it). A cache also holds the
/// scratch buffers of the forward pass, so decoding allocates nothing per token. Not thread-safe: use one
/// cache from one task at a time.
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

  private var keys: [UnsafeMutablePointer<Float>] = []
  private var values: [UnsafeMutablePointer<Float>] = []
  let workspace = Workspace()

  init(layerCount: Int, rowWidth: Int, maximumPositions: Int) {
    self.layerCount = layerCount
    self.rowWidth = rowWidth
    self.maximumPositions = maximumPositions
  }

  deinit {
    for pointer in keys + values { pointer.deallocate() }
  }

  /// Bytes of key/value storage allocated (capacity, not only the filled positions).
  public var byteCount: Int { 2 * layerCount * capacity * rowWidth * MemoryLayout<Float>.stride }

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

  /// Makes room for `positions` more positions.
  func reserve(_ positions: Int) {
    let needed = count + positions
    guard needed > capacity else { return }
    let chunks = (needed + Self.chunkPositions - 1) / Self.chunkPositions
    let newCapacity = min(max(chunks * Self.chunkPositions, needed), max(maximumPositions, needed))
    for layer in 0..<layerCount {
      let newKeys = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * rowWidth)
      let newValues = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * rowWidth)
      if layer < keys.count {
        newKeys.update(from: keys[layer], count: count * rowWidth)
        newValues.update(from: values[layer], count: count * rowWidth)
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

  /// Layer `layer`'s keys `[capacity, rowWidth]`.
  func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys[layer] }
  /// Layer `layer`'s values `[capacity, rowWidth]`.
  func values(layer: Int) -> UnsafeMutablePointer<Float> { values[layer] }

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

  /// A buffer of at least `count` floats, reused across calls (contents undefined).
  func buffer(_ name: String, count: Int) -> UnsafeMutableBufferPointer<Float> {
    if let existing = buffers[name], existing.count >= count {
      return UnsafeMutableBufferPointer(rebasing: existing[0..<count])
    }
    buffers[name]?.deallocate()
    let fresh = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
    fresh.initialize(repeating: 0)
    buffers[name] = fresh
    return UnsafeMutableBufferPointer(rebasing: fresh[0..<count])
  }
}
