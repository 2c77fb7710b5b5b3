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
    var packed = [UInt8](repeating: 0, count: values.count.dividedRoundingUp(by: 2))
    var absmax = [Float](repeating: 0, count: blocksize > 0 ? values.count.dividedRoundingUp(by: blocksize) : 0)
    var failure: QuantError?
    packed.withUnsafeMutableBytes { packedBytes in
      absmax.withUnsafeMutableBufferPointer { absmaxBuffer in
        do throws(QuantError) {
          try encode4Bit(values, quantizer: quantizer, blocksize: blocksize, packed: packedBytes, absmax: absmaxBuffer)
        } catch {
          failure = error
        }
      }
    }
    if let failure { throw failure }
    return (packed, absmax)
  }

  /// ``quantize4Bit(_:quantizer:blocksize:)`` into the caller's buffers.
  ///
  /// - Parameters:
  ///   - values: The values in row-major order.
  ///   - quantizer: The codebook's decision table (16 entries).
  ///   - blocksize: Elements per block (positive and even).
  ///   - packed: Room for `ceil(n / 2)` bytes.
  ///   - absmax: Room for `ceil(n / blocksize)` scales.
  /// - Throws: `QuantError.unsupportedBlocksize`, `.invalidArgument` for a codebook that does not have
  ///   16 entries, `.byteCountMismatch` for buffers that are too small.
  public func encode4Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    packed: UnsafeMutableRawBufferPointer, absmax: UnsafeMutableBufferPointer<Float>
  ) throws(QuantError) {
    guard blocksize > 0, blocksize % 2 == 0 else {
      throw .unsupportedBlocksize(blocksize, supported: BlockwiseCodebookQuantizer.supportedBlocksizes)
    }
    guard quantizer.code.count == 16 else {
      throw .invalidArgument("4-bit quantization needs a 16-entry codebook, found \(quantizer.code.count)")
    }
    let count = values.count
    let blocks = count.dividedRoundingUp(by: blocksize)
    guard packed.count >= count.dividedRoundingUp(by: 2) else {
      throw .byteCountMismatch(context: "4-bit packed output", expected: count.dividedRoundingUp(by: 2), found: packed.count)
    }
    guard absmax.count >= blocks else {
      throw .byteCountMismatch(context: "4-bit absmax output", expected: blocks * 4, found: absmax.count * 4)
    }
    guard count > 0, let source = values.baseAddress, let packedBase = packed.baseAddress,
      let absmaxBase = absmax.baseAddress
    else { return }
    let isa = self.isa
    let x = SendableConstPointer(source)
    let outPacked = SendablePointer(packedBase.assumingMemoryBound(to: UInt8.self))
    let outAbsmax = SendablePointer(absmaxBase)
    quantizer.thresholds.withUnsafeBufferPointer { thresholds in
      quantizer.indexOfSortedPosition.withUnsafeBufferPointer { map in
        let t = SendableOptionalPointer(thresholds.baseAddress)
        let indexMap = SendableOptionalPointer(map.baseAddress)
        let grain = max(blocksize, (16384 / blocksize) * blocksize)
        ParallelChunks.run(count: count, threads: threadCount, alignment: grain) { range in
          ck_quantize_4bit(
            isa, x.pointer + range.lowerBound, range.count, blocksize, t.pointer, indexMap.pointer,
            outPacked.pointer + range.lowerBound / 2, outAbsmax.pointer + range.lowerBound / blocksize)
        }
      }
    }
  }

  /// Blockwise 8-bit codebook quantization (bitsandbytes' `quantize_blockwise` on its default backend),
  /// vectorised and parallel over blocks, into the caller's buffers.
  ///
  /// Bit-identical to QuantCore's `BlockwiseCodebookQuantizer.quantize(_:blocksize:indices:absmax:)`:
  /// the same absmax, reciprocal/division and clamp rules as ``encode4Bit(_:quantizer:blocksize:packed:absmax:)``,
  /// then the nearest codebook entry by binary search over the 255 sorted midpoints (ties to the lower
  /// sorted position, NaN to the last).
  ///
  /// - Parameters:
  ///   - values: The values in row-major order.
  ///   - quantizer: The codebook's decision table (256 entries).
  ///   - blocksize: Elements per block (positive).
  ///   - codes: Room for one code per value.
  ///   - absmax: Room for `ceil(n / blocksize)` scales.
  /// - Throws: `QuantError.invalidArgument` for a non-positive blocksize or a codebook that does not have
  ///   256 entries, `.byteCountMismatch` for buffers that are too small.
  public func encode8Bit(
    _ values: UnsafeBufferPointer<Float>, quantizer: BlockwiseCodebookQuantizer, blocksize: Int,
    codes: UnsafeMutableBufferPointer<UInt8>, absmax: UnsafeMutableBufferPointer<Float>
  ) throws(QuantError) {
    guard blocksize > 0 else { throw .invalidArgument("blocksize must be positive, found \(blocksize)") }
    guard quantizer.code.count == 256 else {
      throw .invalidArgument("8-bit quantization needs a 256-entry codebook, found \(quantizer.code.count)")
    }
    let count = values.count
    let blocks = count.dividedRoundingUp(by: blocksize)
    guard codes.count >= count else {
      throw .byteCountMismatch(context: "8-bit codes output", expected: count, found: codes.count)
    }
    guard absmax.count >= blocks else {
      throw .byteCountMismatch(context: "8-bit absmax output", expected: blocks * 4, found: absmax.count * 4)
    }
    guard count > 0, let source = values.baseAddress, let codesBase = codes.baseAddress,
      let absmaxBase = absmax.baseAddress
    else { return }
    let isa = self.isa
    let x = SendableConstPointer(source)
    let outCodes = SendablePointer(codesBase)
    let outAbsmax = SendablePointer(absmaxBase)
    quantizer.thresholds.withUnsafeBufferPointer { thresholds in
      quantizer.indexOfSortedPosition.withUnsafeBufferPointer { map in
        let t = SendableOptionalPointer(thresholds.baseAddress)
        let indexMap = SendableOptionalPointer(map.baseAddress)
        let grain = max(blocksize, (16384 / blocksize) * blocksize)
        ParallelChunks.run(count: count, threads: threadCount, alignment: grain) { range in
          ck_quantize_8bit_blocks(
            isa, x.pointer + range.lowerBound, range.count, blocksize, t.pointer, indexMap.pointer,
            outCodes.pointer + range.lowerBound, outAbsmax.pointer + range.lowerBound / blocksize)
        }
      }
    }
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
    var q = [Int8](repeating: 0, count: values.count)
    var stats = [Float](repeating: 0, count: max(rows, 0))
    var failure: QuantError?
    q.withUnsafeMutableBufferPointer { codes in
      stats.withUnsafeMutableBufferPointer { rowStats in
        do throws(QuantError) {
          try encodeInt8Rows(values, rows: rows, columns: columns, threshold: threshold, codes: codes, rowStats: rowStats)
        } catch {
          failure = error
        }
      }
    }
    if let failure { throw failure }
    return (q, stats)
  }

  /// ``quantizeInt8Rows(_:rows:columns:threshold:)`` into the caller's buffers.
  ///
  /// - Parameters:
  ///   - values: `[rows, columns]` row-major.
  ///   - rows: Rows.
  ///   - columns: Columns.
  ///   - threshold: Outlier threshold; 0 disables outlier handling.
  ///   - codes: Room for `rows * columns` values.
  ///   - rowStats: Room for `rows` values.
  /// - Throws: `QuantError.shapeMismatch` when a buffer does not fit `rows × columns`.
  public func encodeInt8Rows(
    _ values: UnsafeBufferPointer<Float>, rows: Int, columns: Int, threshold: Float = 0,
    codes: UnsafeMutableBufferPointer<Int8>, rowStats: UnsafeMutableBufferPointer<Float>
  ) throws(QuantError) {
    guard rows >= 0, columns >= 0, values.count == rows * columns, codes.count >= values.count, rowStats.count >= rows else {
      throw .shapeMismatch(context: "int8 row-wise quantize", expected: [rows, columns], found: [values.count])
    }
    guard values.count > 0, let source = values.baseAddress, let qBase = codes.baseAddress,
      let statsBase = rowStats.baseAddress
    else { return }
    let isa = self.isa
    let x = SendableConstPointer(source)
    let outQ = SendablePointer(qBase)
    let outStats = SendablePointer(statsBase)
    ParallelChunks.run(count: rows, threads: threadCount) { range in
      ck_quantize_i8_rows(isa, x.pointer, columns, range.lowerBound, range.upperBound, threshold, outQ.pointer, outStats.pointer)
    }
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
  /// fp8 codes of `values · multipliers[tile]` over a grid of `tileRows × tileColumns` tiles of the
  /// `[values.count / columns, columns]` matrix (row-major over the grid), parallel over rows.
  ///
  /// - Parameters:
  ///   - values: The values, row-major.
  ///   - columns: Columns of the matrix.
  ///   - tileRows: Rows per tile.
  ///   - tileColumns: Columns per tile.
  ///   - multipliers: One multiplier per tile.
  ///   - encoding: E4M3FN or E5M2.
  ///   - codes: Room for one byte per value.
  /// - Throws: `QuantError.invalidArgument` when the grid, multipliers or output do not fit.
  public func encodeFloat8(
    _ values: UnsafeBufferPointer<Float>, columns: Int, tileRows: Int, tileColumns: Int,
    multipliers: UnsafeBufferPointer<Float>, encoding: Float8Encoding, codes: UnsafeMutableRawBufferPointer
  ) throws(QuantError) {
    guard columns > 0, tileRows > 0, tileColumns > 0, values.count % columns == 0, codes.count >= values.count else {
      throw .invalidArgument(
        "fp8 encoding: \(values.count) values do not form rows of \(columns) with \(tileRows)×\(tileColumns) tiles")
    }
    let rows = values.count / columns
    let gridColumns = columns.dividedRoundingUp(by: tileColumns)
    guard multipliers.count == rows.dividedRoundingUp(by: tileRows) * gridColumns else {
      throw .invalidArgument("fp8 encoding: \(multipliers.count) multipliers for a grid of \(tileRows)×\(tileColumns) tiles")
    }
    guard let source = values.baseAddress, let target = codes.baseAddress, let scales = multipliers.baseAddress else { return }
    let isa = self.isa
    let x = SendableConstPointer(source)
    let out = SendablePointer(target.assumingMemoryBound(to: UInt8.self))
    let m = SendableConstPointer(scales)
    let e5m2: Int32 = encoding == .e5m2 ? 1 : 0
    if multipliers.count == 1 {
      let multiplier = scales[0]
      ParallelChunks.run(count: values.count, threads: threadCount, alignment: 4096) { range in
        ck_f8_encode(isa, x.pointer + range.lowerBound, range.count, multiplier, e5m2, out.pointer + range.lowerBound)
      }
      return
    }
    ParallelChunks.run(count: rows, threads: threadCount) { range in
      for row in range {
        for start in stride(from: 0, to: columns, by: tileColumns) {
          let offset = row * columns + start
          let multiplier = m.pointer[(row / tileRows) * gridColumns + start / tileColumns]
          ck_f8_encode(isa, x.pointer + offset, min(tileColumns, columns - start), multiplier, e5m2, out.pointer + offset)
        }
      }
    }
  }

  /// Runs the vectorised, multi-threaded encoders (bit-identical to the reference encoders) for every
  /// layout, so formats quantizing through this backend (`bnb-patch` does) get their speed.
  ///
  /// - Parameter request: The layout, input and output buffers.
  /// - Returns: `false` (the reference encoder then runs) for a request the kernels do not take.
  public func encode(_ request: EncodingRequest) -> Bool {
    do {
      switch request {
      case .codebook4Bit(let values, let quantizer, let blocksize, let packed, let absmax):
        try encode4Bit(values, quantizer: quantizer, blocksize: blocksize, packed: packed, absmax: absmax)
      case .codebook8Bit(let values, let quantizer, let blocksize, let codes, let absmax):
        try encode8Bit(values, quantizer: quantizer, blocksize: blocksize, codes: codes, absmax: absmax)
      case .int8Rowwise(let values, let rows, let columns, let codes, let rowScale):
        try encodeInt8Rows(values, rows: rows, columns: columns, codes: codes, rowStats: rowScale)
      case .float8(let values, let columns, let tileRows, let tileColumns, let multipliers, let encoding, let clamp, let codes):
        // The E4M3FN kernel saturates, which is the clamp; the E5M2 kernel overflows to inf, so a clamped
        // E5M2 request runs the reference encoder.
        if clamp && encoding == .e5m2 { return false }
        try encodeFloat8(
          values, columns: columns, tileRows: tileRows, tileColumns: tileColumns, multipliers: multipliers,
          encoding: encoding, codes: codes)
      }
      return true
    } catch {
      return false
    }
  }
}
