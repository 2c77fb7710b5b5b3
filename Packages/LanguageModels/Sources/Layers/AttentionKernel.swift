import Dispatch
import Foundation

/// Causal GQA attention over the cache: `softmax(q·kᵀ · scale [softcapped]) · v` per query row and head,
/// scores and softmax in float32.
///
/// Each (row, head) pair is computed by one thread, with the same operations whatever the thread count;
/// pairs are dealt to threads round-robin, so results do not depend on how many threads run.
struct AttentionKernel {
  let heads: Int
  let keyValueHeads: Int
  let headDimension: Int
  let scale: Float
  let softcap: Float?
  let window: Int?

  /// Work (multiply-adds) below which attention stays on the calling thread.
  static let parallelThreshold = 1 << 16

  func run(
    queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, rows: Int, start: Int,
    output: UnsafeMutablePointer<Float>, workspace: Workspace, threads: Int
  ) {
    let pairs = rows * heads
    let work = pairs * (start + rows) * headDimension
    let workers = work < Self.parallelThreshold ? 1 : max(1, min(threads, pairs))
    let stride = start + rows
    let scratch = workspace.pointer("attention.scores", count: workers * stride)
    if workers == 1 {
      for pair in 0..<pairs {
        attend(pair: pair, queries: queries, keys: keys, values: values, start: start, output: output, scores: scratch)
      }
      return
    }
    nonisolated(unsafe) let shared = (queries, keys, values, output, scratch)
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
      let (queries, keys, values, output, scratch) = shared
      var pair = worker
      while pair < pairs {
        attend(
          pair: pair, queries: queries, keys: keys, values: values, start: start, output: output,
          scores: scratch + worker * stride)
        pair += workers
      }
    }
  }

  /// One query row and head.
  private func attend(
    pair: Int, queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, start: Int,
    output: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
  ) {
    let row = pair / heads
    let head = pair % heads
    let kvWidth = keyValueHeads * headDimension
    let kvOffset = (head / (heads / keyValueHeads)) * headDimension
    let position = start + row
    let first = window.map { max(0, position - $0 + 1) } ?? 0
    let query = queries + pair * headDimension
    var maximum = -Float.infinity
    for j in first...position {
      var score = dot(query, keys + j * kvWidth + kvOffset) * scale
      if let softcap { score = tanh(score / softcap) * softcap }
      scores[j] = score
      maximum = max(maximum, score)
    }
    var sum: Float = 0
    for j in first...position {
      let e = exp(scores[j] - maximum)
      scores[j] = e
      sum += e
    }
    let out = output + pair * headDimension
    out.update(repeating: 0, count: headDimension)
    for j in first...position {
      accumulate(scores[j] / sum, values + j * kvWidth + kvOffset, into: out)
    }
  }

  /// `Σ a[d]·b[d]` with eight float32 lanes, then the lanes summed in order, then the tail.
  @inline(__always)
  private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    var d = 0
    while d + 8 <= headDimension {
      let x = UnsafeRawPointer(a + d).loadUnaligned(as: SIMD8<Float>.self)
      let y = UnsafeRawPointer(b + d).loadUnaligned(as: SIMD8<Float>.self)
      lanes += x * y
      d += 8
    }
    var total = lanes.sum()
    while d < headDimension {
      total += a[d] * b[d]
      d += 1
    }
    return total
  }

  /// `out[d] += weight · v[d]`.
  @inline(__always)
  private func accumulate(_ weight: Float, _ v: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
    var d = 0
    while d + 8 <= headDimension {
      let x = UnsafeRawPointer(v + d).loadUnaligned(as: SIMD8<Float>.self)
      let y = UnsafeMutableRawPointer(out + d).loadUnaligned(as: SIMD8<Float>.self)
      UnsafeMutableRawPointer(out + d).storeBytes(of: y + weight * x, as: SIMD8<Float>.self)
      d += 8
    }
    while d < headDimension {
      out[d] += weight * v[d]
      d += 1
    }
  }
}
