package import QuantCore

/// The identity of a quantized tensor's storage: which memory its weight bytes and its quantization
/// state live in, not what they contain. Two `QuantizedTensor` values built from the same storage
/// (the same model layer, called again) have equal identities, so the Metal host prepares a layer's
/// buffers once and reuses them on every call.
///
/// The weight bytes are identified by their `TensorStorage` object and byte range; the state arrays
/// (codebook, absmax, nested state, row or tile scales) by their buffers' base addresses, which Swift
/// arrays share between copies and never mutate in place while shared. The cache that keys on an
/// identity keeps the tensor alive (``retained``), so neither an object nor an array buffer can be
/// freed and its address reused by different data while the entry exists.
package struct WeightIdentity: Hashable, Sendable {
  private var parts: [UInt] = []

  /// The identity of `tensor`'s storage, or `nil` for layouts without kernels.
  ///
  /// - Parameter tensor: A quantized tensor.
  package init?(_ tensor: QuantizedTensor) {
    parts.reserveCapacity(16)
    parts += tensor.shape.map { UInt(bitPattern: $0) }
    switch tensor.layout {
    case .codebook4Bit(let packed, let state), .codebook8Bit(let packed, let state):
      parts.append(tensor.layout.kind == "codebook4bit" ? 4 : 8)
      add(packed)
      add(state.code)
      parts += [UInt(bitPattern: state.blocksize)] + state.shape.map { UInt(bitPattern: $0) }
      switch state.absmax {
      case .plain(let values):
        add(values)
      case .nested(let nested):
        add(nested.codes)
        add(nested.absmax)
        add(nested.code)
        parts += [UInt(bitPattern: nested.blocksize), UInt(nested.offset.bitPattern)]
      }
    case .int8Rowwise(let weights):
      parts.append(1)
      add(weights.values)
      add(weights.rowScale)
    case .float8(let weights):
      parts.append(weights.encoding == .e4m3 ? 2 : 3)
      add(weights.values)
      switch weights.scales {
      case .tensor(let scale): parts += [0, UInt(scale.bitPattern)]
      case .rows(let scales):
        parts.append(1)
        add(scales)
      case .tiles(let tileRows, let tileColumns, let values):
        parts += [2, UInt(bitPattern: tileRows), UInt(bitPattern: tileColumns)]
        add(values)
      }
    case .custom:
      return nil
    }
  }

  private mutating func add(_ tensor: Tensor) {
    parts += [
      UInt(bitPattern: ObjectIdentifier(tensor.storage)), UInt(bitPattern: tensor.byteOffset),
      UInt(bitPattern: tensor.byteCount), UInt(bitPattern: tensor.dtype.hashValue),
    ]
  }

  private mutating func add<Element>(_ array: [Element]) {
    let address = array.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    parts += [address, UInt(bitPattern: array.count)]
  }
}

extension WeightIdentity {
  /// The storage of `tensor`'s weight bytes (packed nibbles, codes, int8 or fp8 bytes), which a cache
  /// holds weakly: a layer's buffers live as long as its weights and no longer.
  ///
  /// - Parameter tensor: A quantized tensor.
  /// - Returns: The storage, or `nil` for custom layouts.
  package static func weightStorage(of tensor: QuantizedTensor) -> TensorStorage? {
    switch tensor.layout {
    case .codebook4Bit(let packed, _), .codebook8Bit(let packed, _): packed.storage
    case .int8Rowwise(let weights): weights.values.storage
    case .float8(let weights): weights.values.storage
    case .custom: nil
    }
  }

  /// The state arrays whose buffer addresses are part of the identity, for a cache to keep alive (so
  /// that no other array can be allocated at one of those addresses while its entry exists). They are
  /// small next to the weights: a codebook, absmax or scale per block, row or tile.
  ///
  /// - Parameter tensor: A quantized tensor.
  /// - Returns: Values holding those arrays.
  package static func stateArrays(of tensor: QuantizedTensor) -> [any Sendable] {
    switch tensor.layout {
    case .codebook4Bit(_, let state), .codebook8Bit(_, let state): [state]
    case .int8Rowwise(let weights): [weights.rowScale]
    case .float8(let weights): [weights.scales]
    case .custom: []
    }
  }
}
