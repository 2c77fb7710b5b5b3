internal import _CPUKernelsNative

/// Activations packed for the GEMM microkernel: blocks of rows, each split into k blocks of
/// `CK_GEMM_KC` columns stored as panels of `CK_GEMM_MR` rows (see `ck_gemm_pack_a`).
///
/// A k block of a row block (`rows × 256` floats) stays in L2 while every 16-row weight panel of the
/// same k block streams past it from L1, as in BLIS. Row blocks bound the scratch memory (≤ 16 MiB).
struct PackedActivations: @unchecked Sendable {
  /// Columns per k block.
  static let blockColumns = Int(CK_GEMM_KC)
  /// Rows per panel.
  static let panelRows = Int(CK_GEMM_MR)
  /// The most floats one packed row block may hold.
  static let maximumFloats = 1 << 22

  /// The first activation row of this block.
  let firstRow: Int
  /// Rows in this block.
  let rows: Int
  /// Columns of the activations.
  let k: Int
  let base: UnsafeMutablePointer<Float>

  /// Number of k blocks.
  var kBlocks: Int { (k + PackedActivations.blockColumns - 1) / PackedActivations.blockColumns }
  private var paddedRows: Int {
    (rows + PackedActivations.panelRows - 1) / PackedActivations.panelRows * PackedActivations.panelRows
  }

  /// Whether the whole packed block (every k block) is small enough to stay in a 1–2 MiB L2 (≤ 768 KiB).
  var fitsInL2: Bool { paddedRows * kBlocks * PackedActivations.blockColumns * 4 <= 768 * 1024 }

  /// The first column and the width of k block `index`.
  func columns(_ index: Int) -> (start: Int, count: Int) {
    let start = index * PackedActivations.blockColumns
    return (start, min(PackedActivations.blockColumns, k - start))
  }

  /// The packed panels of k block `index`.
  func panels(_ index: Int) -> UnsafePointer<Float> {
    UnsafePointer(base + index * PackedActivations.blockColumns * paddedRows)
  }

  /// Rows per block for activations of `m × k`.
  static func blockRows(m: Int, k: Int) -> Int {
    let padded = (k + blockColumns - 1) / blockColumns * blockColumns
    let fit = max(panelRows, maximumFloats / max(padded, 1) / panelRows * panelRows)
    return min(m, fit)
  }

  /// Packs `x` (`m × k`, row-major) block by block and calls `body` with each block (the packing of a
  /// block runs in parallel over its k blocks).
  static func forEachBlock(
    x: UnsafePointer<Float>, m: Int, k: Int, ldx: Int? = nil, threads: Int, isa: Int32, scratch: ScratchPool,
    _ body: (PackedActivations) -> Void
  ) {
    let ldx = ldx ?? k
    let blockRows = blockRows(m: m, k: k)
    let paddedK = (k + blockColumns - 1) / blockColumns * blockColumns
    let paddedRows = (blockRows + panelRows - 1) / panelRows * panelRows
    scratch.withBuffer(of: Float.self, count: paddedRows * paddedK) { base in
      var first = 0
      while first < m {
        let block = PackedActivations(firstRow: first, rows: min(blockRows, m - first), k: k, base: base)
        let source = SendableConstPointer(x + first * ldx)
        ParallelChunks.run(count: block.kBlocks, threads: threads) { range in
          for index in range {
            let (k0, kc) = block.columns(index)
            ck_gemm_pack_a(source.pointer + k0, ldx, block.rows, kc, UnsafeMutablePointer(mutating: block.panels(index)))
          }
        }
        body(block)
        first += block.rows
      }
    }
  }

  /// The most floats one packed group of ``forEachGroup(x:m:k:threads:isa:scratch:_:)`` holds (4 MiB).
  static let maximumGroupFloats = 1 << 20

  /// Packs the activations a group of k blocks at a time (all rows, or row blocks of a group) and calls
  /// `body(block, firstColumn)` for each, in k order: for a product whose k loop is outermost (`dX = dY·W`,
  /// an lm_head's `k` of 128 K), so that every weight row is read once for all the rows, while the packed copy
  /// stays a few megabytes instead of the whole `[m, k]`. The k blocks fall at the same multiples of
  /// ``blockColumns`` as one ``forEachBlock(x:m:k:ldx:threads:isa:scratch:_:)`` over all of k, so the sums are
  /// the same.
  static func forEachGroup(
    x: UnsafePointer<Float>, m: Int, k: Int, threads: Int, isa: Int32, scratch: ScratchPool,
    _ body: (PackedActivations, Int) -> Void
  ) {
    let groupColumns = max(blockColumns, maximumGroupFloats / max(m, 1) / blockColumns * blockColumns)
    var first = 0
    while first < k {
      let columns = min(groupColumns, k - first)
      forEachBlock(x: x + first, m: m, k: columns, ldx: k, threads: threads, isa: isa, scratch: scratch) { block in
        body(block, first)
      }
      first += columns
    }
  }
}
