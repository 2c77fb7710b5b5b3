public import QuantCore
internal import _CPUKernelsNative

extension CPUBackend {
  /// Decodes a quantized tensor to `dtype` in parallel, bit-identical to the reference decode.
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - dtype: `float32`, `float16` or `bfloat16`.
  /// - Returns: The decoded tensor with the logical shape.
  /// - Throws: `QuantError` on inconsistent data or an unsupported dtype.
  public func dequantize(_ tensor: QuantizedTensor, to dtype: DType) throws(QuantError) -> Tensor {
    guard floatKind(dtype) != nil else {
      throw .unsupportedDType(dtype, operation: "cpu dequantize", supported: [.float32, .float16, .bfloat16])
    }
    let count = tensor.elementCount
    guard count > 0 else { return try ReferenceBackend().dequantize(tensor, to: dtype) }
    let storage = try TensorStorage(byteCount: count * dtype.byteSize) { (raw) throws(QuantError) in
      try dequantize(tensor, to: dtype, into: raw)
    }
    return try Tensor(dtype: dtype, shape: tensor.shape, storage: storage)
  }
}

extension CPUBackend {
  /// Decodes into caller-provided memory (no allocation beyond nested-absmax decoding): the kernel
  /// ``dequantize(_:to:)`` runs, used by `bnb-bench` to time decoding without the output's page faults.
  ///
  /// - Parameters:
  ///   - tensor: The quantized tensor.
  ///   - dtype: `float32`, `float16` or `bfloat16`.
  ///   - raw: At least `elementCount × dtype.byteSize` bytes.
  /// - Throws: `QuantError` on inconsistent data, an unsupported dtype or a short buffer.
  package func dequantize(_ tensor: QuantizedTensor, to dtype: DType, into raw: UnsafeMutableRawBufferPointer)
    throws(QuantError)
  {
    guard let kind = floatKind(dtype) else {
      throw .unsupportedDType(dtype, operation: "cpu dequantize", supported: [.float32, .float16, .bfloat16])
    }
    let count = tensor.elementCount
    guard raw.count >= count * dtype.byteSize else {
      throw .byteCountMismatch(context: "dequantize output", expected: count * dtype.byteSize, found: raw.count)
    }
    guard count > 0, let base = raw.baseAddress else { return }
    let threads = threadCount
    let isa = self.isa
    let out = SendableRaw(base)
    try PreparedWeight.with(tensor.layout, shape: tensor.shape, isa: isa, threads: threads, scratch: scratch) {
      (weight) throws(QuantError) in
      let failure = FirstError()
      // Chunks start on multiples of 4096 elements so 4-bit data stays byte- and vector-aligned.
      ParallelChunks.run(count: count, threads: threads, alignment: 4096) { range in
        do throws(QuantError) {
          if kind == Int32(CK_F32) {
            try weight.decode(range, into: out.pointer.assumingMemoryBound(to: Float.self) + range.lowerBound)
          } else {
            try withUnsafeTemporaryAllocation(of: Float.self, capacity: 4096) { (scratch) throws(QuantError) in
              guard let buffer = scratch.baseAddress else { return }
              var start = range.lowerBound
              while start < range.upperBound {
                let end = min(start + 4096, range.upperBound)
                try weight.decode(start..<end, into: buffer)
                ck_store_floats(isa, buffer, kind, out.pointer + start * 2, end - start)
                start = end
              }
            }
          }
        } catch {
          failure.record(error)
        }
      }
      try failure.rethrow()
    }
  }
}

/// A raw output pointer handed to parallel workers that write disjoint ranges.
struct SendableRaw: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer
  init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
}
