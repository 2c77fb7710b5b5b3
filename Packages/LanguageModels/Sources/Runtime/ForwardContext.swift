import QuantCore

/// What every layer of one forward chunk shares: the cache, the backend, the RoPE tables of the chunk's
/// positions and the adapters registered when the call began.
struct ForwardContext {
  let cache: KVCache
  let backend: any KernelBackend
  let rope: RotaryEmbedding
  let cos: UnsafeBufferPointer<Float>
  let sin: UnsafeBufferPointer<Float>
  let adapters: [String: any LinearAdapter]
  /// Threads for the runtime's own loops (attention): the CPU backend's count, else one per core.
  let threads: Int

  /// Applies a projection and, when one is registered under its name, its adapter.
  func run(
    _ linear: any LinearLayer, _ input: UnsafeBufferPointer<Float>, rows: Int,
    into output: UnsafeMutableBufferPointer<Float>
  ) throws(LanguageModelError) {
    try linear.apply(input, rows: rows, into: output, backend: backend)
    if let adapter = adapters[linear.name] { adapter.addDelta(input: input, rows: rows, output: output) }
  }
}
