import FormatINT8
import QuantCore
import TestSupport
import Testing

/// The tiny Llama saved by transformers 5.24 with `load_in_8bit` (`Tests/Fixtures/hf/tiny-llama-bnb-int8`):
/// quantizing the original bf16 weights reproduces every quantized tensor byte for byte.
@Suite("LLM.int8 against a transformers checkpoint")
struct Int8CheckpointFixtureTests {
  @Test func tinyLlamaCheckpointIsReproduced() throws {
    let original = try FixtureSafeTensors("../../Examples/tiny-llama/model.safetensors")
    let checkpoint = try FixtureSafeTensors("hf/tiny-llama-bnb-int8/model.safetensors")
    let format = Int8Format()
    let weightNames = checkpoint.tensorNames.filter { $0.hasSuffix(".SCB") }.map { String($0.dropLast(3)) + "weight" }
    #expect(weightNames.count >= 7)
    for weightName in weightNames {
      let loaded = try #require(try format.loadCheckpoint(weightName: weightName, from: checkpoint), "\(weightName)")
      let source = try original.require(weightName)
      let quantized = try format.quantize(source, parameters: FormatParameters())
      let written = try format.checkpointTensors(for: quantized, weightName: weightName)
      for tensor in written {
        let stored = try checkpoint.require(tensor.name)
        #expect(
          stored.dtype == tensor.tensor.dtype && stored.shape == tensor.tensor.shape && stored.bytes == tensor.tensor.bytes,
          "\(tensor.name)")
      }
      #expect(
        try format.dequantize(loaded, to: .float32).bytes == format.dequantize(quantized, to: .float32).bytes, "\(weightName)")
    }
    // Unquantized tensors are not claimed.
    #expect(try format.loadCheckpoint(weightName: "lm_head.weight", from: checkpoint) == nil)
    #expect(try format.loadCheckpoint(weightName: "model.embed_tokens.weight", from: checkpoint) == nil)
  }
}
