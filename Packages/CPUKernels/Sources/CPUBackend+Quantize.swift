public import QuantCore
internal import _CPUKernelsNative

extension CPUBackend {
  /// Blockwise 4-bit quantization (bitsandbytes' `quantize_4bit` on its default CPU backend), vectorised
  /// and parallel over blocks.
  ///
  /// Bit-identical to QuantCore's `BlockwiseCodebookQuantizer.quantizePacked4Bit`: full blocks multiply
  /// by `fl32(1 / max(absmax, 1e-38))`; a trailing partial block divides by `max(absmax, 1e-38)` and
  /// stores that value as its absmax; the sorted position is `#{t : !(t >= v)}` (NaN propagates as
  /// torch does). Element `2i` goes to the high nibble; an odd count pads with the code of 0.0.
  ///
  /// - Parameters:
  ///   - values: The values in row-major order.
  ///   - quantizer: The codebook's decision table (16 entries).
  ///   - blocksize: Elements per block (positive and even).
  /// - Returns: `ceil(n / 2)` packed bytes and `ceil(n / blocksize)` absmax values.
  /// - Throws: `QuantError.unsupportedBlocksize` for a non-positive or odd blocksize,
  ///   `QuantError.invalidArgument` for a codebook that does not have 16 entries.
  public func quantize4Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int
  ) throws(QuantError) -> (packed: [UInt8], absmax: [Float]) {
    guard blocksize > 0, blocksize % 2 == 0 else {
      throw .unsupportedBlocksize(blocksize, supported: BlockwiseCodebookQuantizer.supportedBlocksizes)
    }
    guard quantizer.code.count == 16 else {
      throw .invalidArgument("4-bit quantization needs a 16-entry codebook, found \(quantizer.code.count)")
    }
    let count = values.count
    let blocks = (count + blocksize - 1) / blocksize
    var packed = [UInt8](repeating: 0, count: (count + 1) / 2)
    var absmax = [Float](repeating: 0, count: blocks)
    guard count > 0, let source = values.baseAddress else { return (packed, absmax) }
    let isa = self.isa
    let x = SendableConstPointer(source)
    quantizer.thresholds.withUnsafeBufferPointer { thresholds in
      quantizer.indexOfSortedPosition.withUnsafeBufferPointer { map in
        packed.withUnsafeMutableBufferPointer { packedBuffer in
          absmax.withUnsafeMutableBufferPointer { absmaxBuffer in
            let t = SendableOptionalPointer(thresholds.baseAddress)
            let indexMap = SendableOptionalPointer(map.baseAddress)
            guard let packedBase = packedBuffer.baseAddress, let absmaxBase = absmaxBuffer.baseAddress else { return }
            let outPacked = SendablePointer(packedBase)
            let outAbsmax = SendablePointer(absmaxBase)
            let grain = max(blocksize, (16384 / blocksize) * blocksize)
            ParallelChunks.run(count: count, threads: threadCount, alignment: grain) { range in
              ck_quantize_4bit(
                isa, x.pointer + range.lowerBound, range.count, blocksize, t.pointer, indexMap.pointer,
                outPacked.pointer + range.lowerBound / 2, outAbsmax.pointer + range.lowerBound / blocksize)
            }
          }
        }
      }
    }
    return (packed, absmax)
  }

  /// LLM.int8 row-wise quantization (bitsandbytes' `int8_vectorwise_quant`), parallel over rows.
  ///
  /// `rowStats[r] = max |x[r, :]|` (excluding `|x| ≥ threshold` when `threshold > 0`, which encode as 0);
  /// `q = round_half_even(x · fl32(fl32(1 / rowStats[r]) · 127))` (torch's `127.0 / t`); non-finite
  /// products give 0. bitsandbytes rounds weights to float16 first and compares the threshold in the
  /// input dtype; callers that need that do it before calling. Zeroing outlier columns is the caller's job.
  ///
  /// - Parameters:
  ///   - values: `[rows, columns]` row-major.
  ///   - rows: Rows.
  ///   - columns: Columns.
  ///   - threshold: Outlier threshold; 0 disables outlier handling.
  /// - Returns: The int8 values and one absmax per row.
  /// - Throws: `QuantError.shapeMismatch` when `values.count != rows * columns`.
  public func quantizeInt8Rows(
    _ values: UnsafeBufferPointer<Float>, rows: Int, columns: Int, threshold: Float = 0
  ) throws(QuantError) -> (values: [Int8], rowStats: [Float]) {
    guard rows >= 0, columns >= 0, values.count == rows * columns else {
      throw .shapeMismatch(context: "int8 row-wise quantize", expected: [rows, columns], found: [values.count])
    }
    var q = [Int8](repeating: 0, count: values.count)
    var stats = [Float](repeating: 0, count: rows)
    guard values.count > 0, let source = values.baseAddress else { return (q, stats) }
    let isa = self.isa
    let x = SendableConstPointer(source)
    q.withUnsafeMutableBufferPointer { qBuffer in
      stats.withUnsafeMutableBufferPointer { statsBuffer in
        guard let qBase = qBuffer.baseAddress, let statsBase = statsBuffer.baseAddress else { return }
        let outQ = SendablePointer(qBase)
        let outStats = SendablePointer(statsBase)
        ParallelChunks.run(count: rows, threads: threadCount) { range in
          ck_quantize_i8_rows(
            isa, x.pointer, columns, range.lowerBound, range.upperBound, threshold, outQ.pointer, outStats.pointer)
        }
      }
    }
    return (q, stats)
  }

  /// fp8 encoding of `values · multiplier` (round to nearest even; E4M3FN saturates to ±448, E5M2
  /// overflows to ±inf), parallel. Matches `Float8Encoding.encode` with its default overflow policy.
  ///
  /// - Parameters:
  ///   - values: The values.
  ///   - multiplier: Applied (in float32) before encoding.
  ///   - encoding: E4M3FN or E5M2.
  /// - Returns: One byte per value.
  public func encodeFloat8(_ values: UnsafeBufferPointer<Float>, multiplier: Float, encoding: Float8Encoding) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: values.count)
    guard let source = values.baseAddress else { return out }
    let isa = self.isa
    let x = SendableConstPointer(source)
    let e5m2: Int32 = encoding == .e5m2 ? 1 : 0
    out.withUnsafeMutableBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return }
      let target = SendablePointer(base)
      ParallelChunks.run(count: values.count, threads: threadCount, alignment: 4096) { range in
        ck_f8_encode(isa, x.pointer + range.lowerBound, range.count, multiplier, e5m2, target.pointer + range.lowerBound)
      }
    }
    return out
  }

  /// The largest magnitude in `values` (NaN ignored), vectorised.
  ///
  /// - Parameter values: The values.
  /// - Returns: `max |x|`, or 0 for an empty buffer.
  public func absoluteMaximum(_ values: UnsafeBufferPointer<Float>) -> Float {
    guard let base = values.baseAddress else { return 0 }
    return ck_absmax(isa, base, values.count)
  }
}

extension CPUBackend {
  /// Runs the vectorised, multi-threaded 4-bit encoder (bit-identical to the reference encoder), so
  /// formats quantizing through this backend (`bnb-patch` does) get its speed.
  ///
  /// - Returns: `false` (the reference encoder then runs) for codebooks or blocksizes the kernel does not take.
  public func encodeCodebook4Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    packed: UnsafeMutableRawBufferPointer, absmax: UnsafeMutableBufferPointer<Float>
  ) -> Bool {
    guard let result = try? quantize4Bit(values, quantizer: quantizer, blocksize: blocksize),
      result.packed.count <= packed.count, result.absmax.count <= absmax.count
    else { return false }
    result.packed.withUnsafeBytes { packed.copyMemory(from: $0) }
    _ = absmax.update(fromContentsOf: result.absmax)
    return true
  }
}
