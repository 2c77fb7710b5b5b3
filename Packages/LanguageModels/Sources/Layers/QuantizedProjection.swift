import CPUKernels
package import QuantCore
import QuantizedLinear

/// A projection with a quantized weight of any registered format, run by the backend's fused kernels
/// (on the CPU backend through a ``PreparedLinearWeight``, validated and with nested scales decoded once).
package struct QuantizedProjection: LinearLayer {
  package let name: String
  /// The quantized weight `[outFeatures, inFeatures]`.
  package let weight: QuantizedTensor
  /// The bias `[outFeatures]`, if any.
  package let bias: Tensor?
  /// The CPU backend's prepared handle, when the model runs on it.
  let prepared: PreparedLinearWeight?

  package var inFeatures: Int { weight.shape[1] }
  package var outFeatures: Int { weight.shape[0] }

  package var storage: WeightStorage {
    let footprint = MemoryFootprint(weight: weight, bias: bias)
    return WeightStorage(
      format: weight.format, parameters: footprint.parameters,
      bytes: footprint.totalBytes + (prepared?.preparedByteCount ?? 0))
  }

  package init(name: String, weight: QuantizedTensor, bias: Tensor?, backend: any KernelBackend) throws(QuantError) {
    self.name = name
    self.weight = weight
    self.bias = bias
    self.prepared = try (backend as? CPUBackend)?.prepare(weight)
  }

  package func apply(
    _ input: UnsafeBufferPointer<Float>, rows: Int, into output: UnsafeMutableBufferPointer<Float>,
    backend: any KernelBackend
  ) throws(LanguageModelError) {
    do throws(QuantError) {
      let x = try borrowedTensor(input, shape: [rows, inFeatures])
      let y: Tensor
      if let prepared, let cpu = backend as? CPUBackend {
        y = try cpu.linear(x, weight: prepared, bias: bias)
      } else {
        y = try backend.linear(x, weight: weight, bias: bias)
      }
      copyFloats(of: y, into: output)
    } catch {
      throw .computation(layer: name, reason: error.description)
    }
  }
}
