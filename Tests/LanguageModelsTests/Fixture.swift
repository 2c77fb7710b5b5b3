import CPUKernels
import Foundation
import LanguageModels
import QuantCore
import SafeTensors
import TestSupport

/// One model under `Tests/Fixtures/language-models` with transformers' outputs for it.
struct LanguageModelFixture {
  static let names = [
    "llama", "llama-llama3-tied", "llama-linear-bias", "llama-dynamic", "llama-yarn", "llama-f32-mha",
    "mistral-sliding", "qwen2-bias-tied", "qwen3-qknorm", "phi3-longrope", "phi3-default", "gemma2",
  ]

  let name: String
  let directory: URL
  let prompt: [Int]
  /// transformers' logits `[prompt, vocab]`.
  let logits: [Float]
  /// transformers' greedy continuation (empty for quantized fixtures).
  let greedy: [Int]
  /// For bitsandbytes fixtures: the logits of the float32 model holding bitsandbytes' reference
  /// dequantization of the weights.
  let logitsDequantized: [Float]?

  init(_ name: String) throws {
    self.name = name
    directory = URL(filePath: FixtureDirectory.path("language-models/\(name)"))
    let reference = try SafeTensorsFile(contentsOf: directory.appending(path: "reference.safetensors"))
    guard let promptTensor = try reference.tensor(named: "prompt_ids"), let logitTensor = try reference.tensor(named: "logits")
    else { throw LanguageModelError.missingTensor(file: "reference.safetensors", tensor: "prompt_ids/logits") }
    prompt = try promptTensor.scalars(as: Int64.self).map { Int($0) }
    logits = try logitTensor.floats()
    greedy = try reference.tensor(named: "greedy_ids")?.scalars(as: Int64.self).map { Int($0) } ?? []
    logitsDequantized = try reference.tensor(named: "logits_dequantized")?.floats()
  }

  func load(threads: Int = 1, chunk: Int = 256, quantization: BitsAndBytesConfig? = nil) throws -> LanguageModel {
    try LanguageModel.load(
      directory: directory, quantization: quantization, backend: CPUBackend(threads: threads), prefillChunkSize: chunk)
  }
}

/// Largest absolute difference divided by the largest reference magnitude.
func relativeError(_ found: [Float], _ expected: [Float]) -> Float {
  precondition(found.count == expected.count, "\(found.count) vs \(expected.count) values")
  var difference: Float = 0
  var scale: Float = 0
  for (a, b) in zip(found, expected) {
    difference = max(difference, abs(a - b))
    scale = max(scale, abs(b))
  }
  return difference / max(scale, .leastNormalMagnitude)
}

/// The index of the largest value (the first one on ties, as torch.argmax).
func argmax(_ values: [Float]) -> Int {
  var best = 0
  for index in values.indices where values[index] > values[best] { best = index }
  return best
}

/// Greedy decoding through the KV cache.
func greedyIDs(_ model: LanguageModel, prompt: [Int], count: Int) throws -> [Int] {
  let cache = model.makeCache()
  var next = argmax(try model.logits(for: prompt, cache: cache))
  var ids = [next]
  while ids.count < count {
    next = argmax(try model.logits(for: [next], cache: cache))
    ids.append(next)
  }
  return ids
}
