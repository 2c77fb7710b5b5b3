// Buffers kept between calls (Apple platforms only): weight-side buffers per quantized tensor, and a
// pool of activation/bias/output buffers.
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// A quantized tensor's buffers, prepared once: the kernel arguments and one bound buffer per
  /// weight-side index. Large weight tensors are wrapped in place (no copy); the entry keeps the
  /// tensor, and so its storage and state arrays, alive.
  final class CachedWeights: @unchecked Sendable {
    let prepared: PreparedWeights
    let buffers: [KernelBufferIndex: BoundBuffer]
    private let retained: QuantizedTensor

    init(prepared: PreparedWeights, buffers: [KernelBufferIndex: BoundBuffer], retained: QuantizedTensor) {
      self.prepared = prepared
      self.buffers = buffers
      self.retained = retained
    }
  }

  /// Prepared weight buffers keyed by ``WeightIdentity`` (storage identity, not contents), evicting the
  /// oldest entry beyond ``capacity`` (a model's linear layers fit many times over).
  final class WeightBufferCache: @unchecked Sendable {
    /// The most tensors kept.
    static let capacity = 4096

    private struct State {
      var entries: [WeightIdentity: CachedWeights] = [:]
      var order: [WeightIdentity] = []
    }

    private let state = Locked(State())

    /// The cached buffers of `tensor`, preparing them on first use.
    ///
    /// - Parameters:
    ///   - tensor: The quantized weights.
    ///   - context: Where buffers are made.
    /// - Returns: The prepared weights and their bound buffers.
    /// - Throws: `QuantError` for inconsistent data or when Metal cannot allocate a buffer.
    func weights(for tensor: QuantizedTensor, context: MetalDeviceContext) throws(QuantError) -> CachedWeights {
      let identity = WeightIdentity(tensor)
      if let identity, let hit = state.withLock({ $0.entries[identity] }) { return hit }
      let prepared = try PreparedWeights(tensor)
      var buffers: [KernelBufferIndex: BoundBuffer] = [:]
      for (index, contents) in prepared.buffers { buffers[index] = try context.boundBuffer(for: contents) }
      let entry = CachedWeights(prepared: prepared, buffers: buffers, retained: tensor)
      guard let identity else { return entry }
      return state.withLock { state in
        if let existing = state.entries[identity] { return existing }
        state.entries[identity] = entry
        state.order.append(identity)
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
