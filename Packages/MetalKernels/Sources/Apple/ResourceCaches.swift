// Buffers kept between calls (Apple platforms only): weight-side buffers per quantized tensor, and a
// pool of activation/bias/output buffers.
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// A quantized tensor's buffers, prepared once: the kernel arguments and one bound buffer per
  /// weight-side index. Large weight tensors are wrapped in place (no copy), so the entry is valid only
  /// while the weights' storage lives: it holds that storage weakly (``isLive``) and the small state
  /// arrays strongly (their addresses are part of the key).
  final class CachedWeights: @unchecked Sendable {
    /// The arguments and family; the weight bytes themselves are not kept here.
    let prepared: PreparedWeights
    let buffers: [KernelBufferIndex: BoundBuffer]
    private weak var storage: TensorStorage?
    private let state: [any Sendable]

    init(prepared: PreparedWeights, buffers: [KernelBufferIndex: BoundBuffer], tensor: QuantizedTensor) {
      var lean = prepared
      lean.buffers = [:]
      self.prepared = lean
      self.buffers = buffers
      self.storage = WeightIdentity.weightStorage(of: tensor)
      self.state = WeightIdentity.stateArrays(of: tensor)
    }

    /// Whether the weights' storage still exists (a freed storage's address may be reused).
    var isLive: Bool { storage != nil }
  }

  /// Prepared weight buffers keyed by ``WeightIdentity`` (storage identity, not contents). Entries whose
  /// weights were freed are dropped when found and on every insertion; beyond ``capacity`` the oldest
  /// goes (a model's linear layers fit many times over).
  final class WeightBufferCache: @unchecked Sendable {
    /// The most tensors kept.
    static let capacity = 4096

    private struct State {
      var entries: [WeightIdentity: CachedWeights] = [:]
      var order: [WeightIdentity] = []
    }

    private let state = Locked(State())

    /// The cached buffers of `tensor`, preparing them on first use. The caller keeps `tensor` alive
    /// until the command buffer using them completes (``MetalCommandBatch`` does).
    ///
    /// - Parameters:
    ///   - tensor: The quantized weights.
    ///   - context: Where buffers are made.
    /// - Returns: The prepared weights and their bound buffers.
    /// - Throws: `QuantError` for inconsistent data or when Metal cannot allocate a buffer.
    func weights(for tensor: QuantizedTensor, context: MetalDeviceContext) throws(QuantError) -> CachedWeights {
      let identity = WeightIdentity(tensor)
      if let identity, let hit = state.withLock({ $0.entries[identity] }), hit.isLive { return hit }
      let prepared = try PreparedWeights(tensor)
      var buffers: [KernelBufferIndex: BoundBuffer] = [:]
      for (index, contents) in prepared.buffers { buffers[index] = try context.boundBuffer(for: contents) }
      let entry = CachedWeights(prepared: prepared, buffers: buffers, tensor: tensor)
      guard let identity else { return entry }
      return state.withLock { state in
        if let existing = state.entries[identity], existing.isLive { return existing }
        let live = state.entries.filter { $0.value.isLive }
        state.order = state.order.filter { live[$0] != nil }
        state.entries = live
        state.order.append(identity)
        state.entries[identity] = entry
        if state.order.count > Self.capacity {
          state.entries[state.order.removeFirst()] = nil
        }
        return entry
      }
    }

    /// Drops every entry (the buffers are released when no command buffer uses them any more).
    func removeAll() { state.withLock { $0 = State() } }
  }

  /// Shared-storage buffers reused across calls, by power-of-two size class (at least 4 KiB).
  final class BufferPool: @unchecked Sendable {
    /// Buffers kept per size class.
    static let perClass = 8
    private let device: MTLDevice
    private let free = Locked<[Int: [MTLBuffer]]>([:])

    init(device: MTLDevice) { self.device = device }

    /// A buffer of at least `length` bytes (contents undefined).
    ///
    /// - Parameter length: The bytes needed.
    /// - Returns: A pooled or new buffer.
    /// - Throws: `QuantError.invalidState` when Metal cannot allocate it.
    func take(_ length: Int) throws(QuantError) -> MTLBuffer {
      let size = Self.sizeClass(length)
      if let buffer = free.withLock({ $0[size]?.popLast() }) { return buffer }
      guard let buffer = device.makeBuffer(length: size, options: .storageModeShared) else {
        throw .invalidState("cannot allocate a \(size)-byte Metal buffer")
      }
      return buffer
    }

    /// Returns `buffer` to the pool once no command buffer uses it.
    func give(_ buffer: MTLBuffer) {
      let size = buffer.length
      guard size == Self.sizeClass(size) else { return }
      free.withLock { free in
        if free[size, default: []].count < Self.perClass { free[size, default: []].append(buffer) }
      }
    }

    /// Drops every pooled buffer.
    func removeAll() { free.withLock { $0 = [:] } }

    static func sizeClass(_ length: Int) -> Int {
      var size = 4096
      while size < length { size <<= 1 }
      return size
    }
  }
#endif
