// Turning tensors into bound Metal buffers (Apple platforms only).
#if canImport(Metal)
  import Foundation
  import Metal
  import QuantCore

  /// A buffer and the offset at which the kernel's data starts (passed to `setBuffer(_:offset:index:)`).
  struct BoundBuffer {
    let buffer: MTLBuffer
    let offset: Int
  }

  extension MetalDeviceContext {
    /// Tensors at least this large are wrapped without copying (smaller ones are copied once: the
    /// weight cache makes that a one-time cost, and large allocations are page-granular VM regions or
    /// memory-mapped files, which is what `bytesNoCopy` expects).
    static let noCopyThreshold = 1 << 20

    /// A buffer over `tensor`'s bytes.
    ///
    /// Large tensors are wrapped in place (`bytesNoCopy` over the enclosing pages) and bound at the
    /// tensor's offset within the first page, so memory-mapped checkpoints are never copied. The kernels'
    /// vector loads need 16-byte alignment: a misaligned or small tensor is copied instead. The caller
    /// keeps `tensor` alive while the buffer is used (``WeightBufferCache`` checks, batches retain).
    ///
    /// - Parameter tensor: The data.
    /// - Returns: The buffer and the offset to bind it at.
    /// - Throws: `QuantError.invalidState` when Metal cannot allocate the buffer.
    func boundBuffer(for tensor: Tensor) throws(QuantError) -> BoundBuffer {
      try tensor.withUnsafeBytes { (raw) throws(QuantError) -> BoundBuffer in
        guard let start = raw.baseAddress, raw.count > 0 else { return BoundBuffer(buffer: placeholder, offset: 0) }
        let address = UInt(bitPattern: start)
        if raw.count >= Self.noCopyThreshold && address % 16 == 0 {
          let page = UInt(getpagesize())
          let pageStart = address & ~(page - 1)
          let offset = Int(address - pageStart)
          let length = (offset + raw.count + Int(page) - 1) / Int(page) * Int(page)
          if let pointer = UnsafeMutableRawPointer(bitPattern: pageStart),
            let buffer = device.makeBuffer(
              bytesNoCopy: pointer, length: length, options: .storageModeShared, deallocator: nil)
          {
            return BoundBuffer(buffer: buffer, offset: offset)
          }
        }
        guard let buffer = device.makeBuffer(bytes: start, length: raw.count, options: .storageModeShared) else {
          throw .invalidState("cannot allocate a \(raw.count)-byte Metal buffer")
        }
        return BoundBuffer(buffer: buffer, offset: 0)
      }
    }

    /// A pooled buffer holding a copy of `bytes` (activations, bias), bound at offset 0.
    ///
    /// - Parameter bytes: The data.
    /// - Returns: The buffer; give it back to ``pool`` after the command buffer completes.
    /// - Throws: `QuantError.invalidState` when Metal cannot allocate the buffer.
    func staged(_ bytes: UnsafeRawBufferPointer) throws(QuantError) -> MTLBuffer {
      let buffer = try pool.take(max(bytes.count, 16))
      if let start = bytes.baseAddress, bytes.count > 0 { buffer.contents().copyMemory(from: start, byteCount: bytes.count) }
      return buffer
    }
  }

  extension MTLComputeCommandEncoder {
    /// Binds `bound` at `index`, honouring its offset.
    func setBuffer(_ bound: BoundBuffer, index: KernelBufferIndex) {
      setBuffer(bound.buffer, offset: bound.offset, index: index.rawValue)
    }
  }
#endif
