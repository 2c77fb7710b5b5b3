package import QuantCore

/// A grid or threadgroup size, in Metal's `MTLSize` terms.
package struct KernelGridSize: Sendable, Equatable {
  /// Along x.
  package var width: Int
  /// Along y.
  package var height: Int
  /// Along z.
  package var depth: Int

  /// Creates a size.
  ///
  /// - Parameters:
  ///   - width: Along x.
  ///   - height: Along y.
  ///   - depth: Along z.
  package init(_ width: Int, _ height: Int = 1, _ depth: Int = 1) {
    self.width = width
    self.height = height
    self.depth = depth
  }
}

/// One kernel launch: which function, how many threadgroups of how many threads, with which arguments.
///
/// Always `dispatchThreadgroups`: the kernels bounds-check their tails, so no non-uniform groups are needed.
package struct KernelDispatch: Sendable, Equatable {
  /// The kernel's host name (`gemv_cb4_bs64_f16`).
  package var functionName: String
  /// Threadgroups per grid.
  package var threadgroups: KernelGridSize
  /// Threads per threadgroup.
  package var threadsPerThreadgroup: KernelGridSize
  /// The argument block for index ``KernelBufferIndex/arguments``.
  package var arguments: QuantKernelArguments
}

/// Chooses kernels and grids. Plain Swift shared by the Metal host and the emulator tests.
package enum KernelDispatchPlan {
  /// Activation rows up to which `linear` uses the GEMV kernels (above: tiled GEMM).
  package static let gemvMaxTokens = 8
  /// GEMV: output rows per threadgroup (2 SIMD-groups × 4 rows).
  package static let gemvRowsPerThreadgroup = 8
  /// GEMV: threads per threadgroup.
  package static let gemvThreads = 64
  /// GEMM: the square tile edge (tokens, weight rows and columns per step).
  package static let gemmTile = 32
  /// GEMM: threads per threadgroup (4 SIMD-groups).
  package static let gemmThreads = 128
  /// Dequantize: elements per thread.
  package static let dequantizeElementsPerThread = 8
  /// Dequantize: threads per threadgroup.
  package static let dequantizeThreads = 256
  /// Blocksizes with a GEMV kernel specialized at compile time (others read the blocksize at run time).
  package static let specializedBlocksizes: Set<Int> = [32, 64, 128]

  /// The name suffix of a float dtype.
  ///
  /// - Parameter dtype: `float32`, `float16` or `bfloat16`.
  /// - Returns: `"f32"`, `"f16"` or `"bf16"`.
  /// - Throws: `QuantError.unsupportedDType` for other dtypes.
  package static func suffix(for dtype: DType, operation: String) throws(QuantError) -> String {
    switch dtype {
    case .float32: "f32"
    case .float16: "f16"
    case .bfloat16: "bf16"
    default: throw .unsupportedDType(dtype, operation: operation, supported: [.float32, .float16, .bfloat16])
    }
  }

  /// The launch that decodes `weights` to `dtype`.
  ///
  /// - Parameters:
  ///   - weights: Prepared weights.
  ///   - dtype: The output dtype.
  /// - Returns: The dispatch; bind the weight buffers and an output of `elementCount` elements.
  /// - Throws: `QuantError.unsupportedDType` for a non-float output.
  package static func dequantize(_ weights: PreparedWeights, to dtype: DType) throws(QuantError) -> KernelDispatch {
    let suffix = try suffix(for: dtype, operation: "Metal dequantize output")
    let count = Int(weights.arguments.elementCount)
    let threads = max(1, (count + dequantizeElementsPerThread - 1) / dequantizeElementsPerThread)
    return KernelDispatch(
      functionName: "dequantize_\(weights.family.rawValue)_\(suffix)",
      threadgroups: KernelGridSize((threads + dequantizeThreads - 1) / dequantizeThreads),
      threadsPerThreadgroup: KernelGridSize(dequantizeThreads),
      arguments: weights.arguments)
  }

  /// The launch for `input [M, K] · weightᵀ (+ bias)`: GEMV for M ≤ 8, tiled GEMM above.
  ///
  /// - Parameters:
  ///   - weights: Prepared weights `[N, K]`.
  ///   - tokens: M, the activation rows (at least 1).
  ///   - activation: The activation (and output) dtype.
  ///   - hasBias: Whether a float32 bias is bound.
  /// - Returns: The dispatch.
  /// - Throws: `QuantError` for an unsupported dtype or an empty problem.
  package static func linear(
    _ weights: PreparedWeights, tokens: Int, activation: DType, hasBias: Bool
  ) throws(QuantError) -> KernelDispatch {
    let suffix = try suffix(for: activation, operation: "Metal linear activations")
    guard tokens > 0, weights.rows > 0, tokens < Int(UInt32.max), tokens * weights.rows < Int(UInt32.max) else {
      throw .invalidArgument("Metal linear needs 1…2³² tokens and rows (got \(tokens) × \(weights.rows))")
    }
    var arguments = weights.arguments
    arguments.tokens = UInt32(tokens)
    arguments.hasBias = hasBias ? 1 : 0
    if tokens <= gemvMaxTokens {
      var variant = weights.family.rawValue
      if weights.family == .codebook4 && specializedBlocksizes.contains(Int(weights.arguments.blocksize)) {
        variant += "_bs\(weights.arguments.blocksize)"
      }
      return KernelDispatch(
        functionName: "gemv_\(variant)_\(suffix)",
        threadgroups: KernelGridSize((weights.rows + gemvRowsPerThreadgroup - 1) / gemvRowsPerThreadgroup, 1, tokens),
        threadsPerThreadgroup: KernelGridSize(gemvThreads),
        arguments: arguments)
    }
    return KernelDispatch(
      functionName: "gemm_\(weights.family.rawValue)_\(suffix)",
      threadgroups: KernelGridSize((weights.rows + gemmTile - 1) / gemmTile, (tokens + gemmTile - 1) / gemmTile),
      threadsPerThreadgroup: KernelGridSize(gemmThreads),
      arguments: arguments)
  }
  /// The launch for the input gradient `outputGradient [M, N] · weights [N, K]` (training over frozen
  /// quantized weights): the tiled GEMM with N as the shared dimension, for every M.
  ///
  /// - Parameters:
  ///   - weights: Prepared weights `[N, K]`.
  ///   - tokens: M, the gradient rows (at least 1).
  ///   - activation: The gradient's (and result's) dtype.
  /// - Returns: The dispatch; bind the gradient as the input and an output of `M × K` elements.
  /// - Throws: `QuantError` for an unsupported dtype or an empty problem.
  package static func inputGradient(
    _ weights: PreparedWeights, tokens: Int, activation: DType
  ) throws(QuantError) -> KernelDispatch {
    let suffix = try suffix(for: activation, operation: "Metal input-gradient operands")
    let columns = Int(weights.arguments.columns)
    guard tokens > 0, weights.rows > 0, columns > 0, tokens < Int(UInt32.max),
      tokens * max(weights.rows, columns) < Int(UInt32.max)
    else {
      throw .invalidArgument(
        "Metal input gradient needs 1…2³² tokens, rows and columns (got \(tokens) × \(weights.rows) × \(columns))")
    }
    var arguments = weights.arguments
    arguments.tokens = UInt32(tokens)
    arguments.hasBias = 0
    return KernelDispatch(
      functionName: "gemm_input_gradient_\(weights.family.rawValue)_\(suffix)",
      threadgroups: KernelGridSize((columns + gemmTile - 1) / gemmTile, (tokens + gemmTile - 1) / gemmTile),
      threadsPerThreadgroup: KernelGridSize(gemmThreads),
      arguments: arguments)
  }
}
