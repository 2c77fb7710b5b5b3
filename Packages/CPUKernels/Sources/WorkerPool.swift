import Dispatch
import QuantCore
import Synchronization
internal import _CPUKernelsNative

/// A persistent pool of worker threads for the per-call kernels.
///
/// Creating threads per call (as `DispatchQueue.concurrentPerform` effectively does for short jobs)
/// costs tens of microseconds, which is a large part of a 4096×4096 GEMV; a decode step runs ~200 such
/// calls. Here the workers stay alive between calls: after a job they spin for ``spinNanoseconds``
/// (with the CPU's pause hint) watching for the next one, then sleep on a semaphore until woken.
///
/// A job is `count` chunks; the submitting thread and the workers it enlists claim chunk indices from
/// one atomic word (generation, chunk count and next index packed together), so a worker that wakes
/// late simply finds nothing left, and the submitter does the remaining chunks itself. Which thread
/// runs a chunk never affects the result: kernels compute every output from its chunk alone.
///
/// One job runs at a time. A call made while the pool is busy (another thread's job, or a kernel
/// called from inside a chunk) falls back to `DispatchQueue.concurrentPerform`.
final class WorkerPool: @unchecked Sendable {
  /// The pool every ``CPUBackend`` shares.
  ///
  /// Setting the environment variable `BNB_CPU_WORKER_POOL=off` disables it (every parallel call then uses
  /// `DispatchQueue.concurrentPerform`, as before the pool existed), for benchmarks of the difference.
  static let shared = WorkerPool(
    capacity: WorkerThread.environment("BNB_CPU_WORKER_POOL") == "off"
      ? 0 : max(1, min(255, 2 * activeProcessorCount())))

  /// How long an idle worker spins before sleeping.
  static let spinNanoseconds: UInt64 = 200_000

  private final class Worker: Sendable {
    /// 0 = awake (running or spinning), 1 = asleep (or about to wait on `wake`).
    let state = Atomic<Int>(0)
    let wake = DispatchSemaphore(value: 0)
  }

  /// Worker threads the pool may start.
  let capacity: Int
  private let workers: [Worker]
  private let started = Locked<Int>(0)
  /// Incremented once per job; workers compare it with the last one they saw.
  private let generation = Atomic<Int>(0)
  /// Workers `0..<enlisted` take part in the current job.
  private let enlisted = Atomic<Int>(0)
  /// `(generation mod 2^24) << 40 | count << 20 | next chunk`.
  private let claims = Atomic<Int>(0)
  /// Chunks of the current job not finished yet.
  private let pending = Atomic<Int>(0)
  private let busy = Atomic<Bool>(false)
  /// The current job's body; written only while no job runs, read only by a thread holding a claim.
  private var body: ((Int) -> Void)?

  init(capacity: Int) {
    self.capacity = capacity
    self.workers = (0..<capacity).map { _ in Worker() }
  }

  /// Runs `body(i)` for `i` in `0..<count` on the calling thread and up to `threads - 1` workers,
  /// returning when every call has finished.
  func run(count: Int, threads: Int, _ body: (Int) -> Void) {
    guard count > 1, threads > 1 else {
      for index in 0..<count { body(index) }
      return
    }
    guard capacity > 0, count < 1 << 20, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else {
      withoutActuallyEscaping(body) { escapable in
        let shared = UncheckedBody(call: escapable)
        DispatchQueue.concurrentPerform(iterations: count) { shared.call($0) }
      }
      return
    }
    defer { busy.store(false, ordering: .releasing) }
    let helpers = min(threads - 1, count - 1, capacity)
    startWorkers(helpers)
    withoutActuallyEscaping(body) { escapable in
      self.body = escapable
      let next = generation.load(ordering: .relaxed) &+ 1
      let tag = next & 0xFF_FFFF
      pending.store(count, ordering: .relaxed)
      enlisted.store(helpers, ordering: .relaxed)
      claims.store(tag << 40 | count << 20, ordering: .releasing)
      generation.store(next, ordering: .sequentiallyConsistent)
      for index in 0..<helpers {
        let worker = workers[index]
        if worker.state.compareExchange(expected: 1, desired: 0, ordering: .sequentiallyConsistent).exchanged {
          worker.wake.signal()
        }
      }
      participate(tag: tag)
      var spins = 0
      let start = DispatchTime.now().uptimeNanoseconds
      while pending.load(ordering: .acquiring) > 0 {
        spins += 1
        if spins < 256 || DispatchTime.now().uptimeNanoseconds - start < 50_000 {
          ck_cpu_relax()
        } else {
          WorkerThread.yieldProcessor()
        }
      }
      self.body = nil
    }
  }

  /// Claims and runs chunks of the job tagged `tag` until none are left.
  private func participate(tag: Int) {
    while true {
      var word = claims.load(ordering: .acquiring)
      while true {
        let count = (word >> 20) & 0xF_FFFF
        let index = word & 0xF_FFFF
        guard word >> 40 == tag, index < count else { return }
        let (exchanged, found) = claims.compareExchange(
          expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
        if exchanged {
          body?(index)
          pending.subtract(1, ordering: .releasing)
          break
        }
        word = found
      }
    }
  }

  private func startWorkers(_ needed: Int) {
    started.withLock { count in
      while count < needed {
        let index = count
        guard WorkerThread.start({ [self] in self.workerLoop(index) }) else { return }
        count += 1
      }
    }
  }

  private func workerLoop(_ index: Int) {
    let worker = workers[index]
    var seen = generation.load(ordering: .acquiring)
    while true {
      var current = generation.load(ordering: .acquiring)
      var spins = 0
      var start: UInt64 = 0
      while current == seen {
        spins += 1
        if spins & 63 != 0 {
          ck_cpu_relax()
        } else if start == 0 {
          start = DispatchTime.now().uptimeNanoseconds
        } else if DispatchTime.now().uptimeNanoseconds - start > WorkerPool.spinNanoseconds {
          worker.state.store(1, ordering: .sequentiallyConsistent)
          if generation.load(ordering: .sequentiallyConsistent) == seen {
            worker.wake.wait()  // the submitter sets the state back to 0 before signalling
          } else if !worker.state.compareExchange(expected: 1, desired: 0, ordering: .sequentiallyConsistent)
            .exchanged
          {
            worker.wake.wait()  // a submitter claimed the wake-up: consume its signal
          }
          spins = 0
          start = 0
        }
        current = generation.load(ordering: .acquiring)
      }
      seen = current
      if index < enlisted.load(ordering: .acquiring) {
        participate(tag: current & 0xFF_FFFF)
      }
    }
  }
}

/// A job body handed to `concurrentPerform` in the fallback path (it runs only during the call).
private struct UncheckedBody: @unchecked Sendable {
  let call: (Int) -> Void
}
