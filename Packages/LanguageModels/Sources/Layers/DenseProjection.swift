import CPUKernels
package import QuantCore

/// A projection with plain float32/float16/bfloat16 weights, used in place (memory-mapped) through the
/// backend's dense kernels: the layers transformers keeps in high precision, and unquantized models.
package struct DenseProjection: LinearLayer {
  package let name: String
  /// The weight `[outFeatures, inFeatures]` in its stored dtype.
  package let weight: Tensor
  /// The bias `[outFeatures]` as float32, if any.
  package let bias: Tensor?

  package var inFeatures: Int { weight.shape[1] }
  package var outFeatures: Int { weight.shape[0] }

  package var storage: WeightStorage {
    WeightStorage(
      format: weight.dtype.rawValue, parameters: weight.elementCount, bytes: weight.byteCount + (bias?.byteCount ?? 0))
  }

  package init(name: String, weight: Tensor, bias: Tensor?) {
    self.name = name
    self.weight = weight
    self.bias = bias
  }

  package func apply(
    _ input: UnsafeBufferPointer<Float>, rows: Int, into output: UnsafeMutableBufferPointer<Float>,
    backend: any KernelBackend
  ) throws(LanguageModelError) {
    do throws(QuantError) {
      let x = try borrowedTensor(input, shape: [rows, inFeatures])
      let y = try backend.denseLinear(x, weight: weight, bias: bias)
      copyFloats(of: y, into: output)
    } catch {
      throw .computation(layer: name, reason: error.description)
    }
  }
}
