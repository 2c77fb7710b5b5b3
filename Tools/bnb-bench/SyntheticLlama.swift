import BitsAndBytes
import Foundation

/// A Llama-shaped model with random weights (the real tensor names and shapes), written as a bfloat16
/// checkpoint folder so that the loader and quantize-at-load run exactly as on a downloaded model.
struct SyntheticLlama {
  /// Llama 3.2 1B: 16 layers, hidden 2048, MLP 8192, 32 heads of 64, 8 KV heads, vocabulary 128256, tied
  /// embeddings.
  static let llama32OneB = SyntheticLlama(
    layers: 16, hidden: 2048, intermediate: 8192, heads: 32, keyValueHeads: 8, headDimension: 64, vocabulary: 128_256)

  /// Llama 2 7B: 32 layers, hidden 4096, MLP 11008, 32 heads of 128 (no grouped KV), vocabulary 32000, a separate
  /// lm_head, plain RoPE (θ 10000).
  static let llama2SevenB = SyntheticLlama(
    layers: 32, hidden: 4096, intermediate: 11_008, heads: 32, keyValueHeads: 32, headDimension: 128,
    vocabulary: 32_000, tiedEmbeddings: false)

  var layers: Int
  var hidden: Int
  var intermediate: Int
  var heads: Int
  var keyValueHeads: Int
  var headDimension: Int
  var vocabulary: Int
  /// Llama 3.2's tied embeddings and llama3 RoPE scaling; `false`: a separate `lm_head.weight` and plain RoPE.
  var tiedEmbeddings = true

  /// The shapes of every tensor, in file order.
  var tensors: [(name: String, shape: [Int])] {
    var result: [(String, [Int])] = [("model.embed_tokens.weight", [vocabulary, hidden])]
    let kv = keyValueHeads * headDimension
    for layer in 0..<layers {
      let prefix = "model.layers.\(layer)."
      result += [
        (prefix + "input_layernorm.weight", [hidden]),
        (prefix + "self_attn.q_proj.weight", [heads * headDimension, hidden]),
        (prefix + "self_attn.k_proj.weight", [kv, hidden]),
        (prefix + "self_attn.v_proj.weight", [kv, hidden]),
        (prefix + "self_attn.o_proj.weight", [hidden, heads * headDimension]),
        (prefix + "post_attention_layernorm.weight", [hidden]),
        (prefix + "mlp.gate_proj.weight", [intermediate, hidden]),
        (prefix + "mlp.up_proj.weight", [intermediate, hidden]),
        (prefix + "mlp.down_proj.weight", [hidden, intermediate]),
      ]
    }
    result.append(("model.norm.weight", [hidden]))
    if !tiedEmbeddings { result.append(("lm_head.weight", [vocabulary, hidden])) }
    return result
  }

  /// Parameters of the projections one token runs through (every layer's, and the tied lm_head).
  var projectionParameters: Int {
    let kv = keyValueHeads * headDimension
    let perLayer = hidden * (heads * headDimension) * 2 + 2 * kv * hidden + 3 * hidden * intermediate
    return layers * perLayer + vocabulary * hidden
  }

  /// Multiply-add FLOPs of a prefill of `positions` tokens that computes the logits of the last one:
  /// the layers' projections for every position, the lm_head once, and causal attention.
  func prefillFLOPs(positions: Int) -> Double {
    let layerParameters = projectionParameters - vocabulary * hidden
    let attention = 2.0 * 2 * Double(layers * heads * headDimension) * Double(positions * (positions + 1) / 2)
    return 2 * Double(layerParameters) * Double(positions) + 2 * Double(vocabulary * hidden) + attention
  }

  /// Writes `config.json` and a bfloat16 `model.safetensors` with uniform random weights of standard
  /// deviation 0.02 (norm weights 1) to `folder`.
  func write(to folder: URL, seed: UInt64) throws {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var config: [String: Any] = [
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
      "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
      "num_key_value_heads": keyValueHeads, "head_dim": headDimension, "vocab_size": vocabulary,
      "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500_000.0, "tie_word_embeddings": true,
      "hidden_act": "silu", "bos_token_id": 128_000, "eos_token_id": 128_001, "torch_dtype": "bfloat16",
      "rope_scaling": [
        "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
      ],
    ]
    if !tiedEmbeddings {
      config["tie_word_embeddings"] = false
      config["rope_theta"] = 10_000.0
      config["bos_token_id"] = 1
      config["eos_token_id"] = 2
      config["rope_scaling"] = nil
    }
    try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(
      to: folder.appending(path: "config.json"))
    let writer = try SafeTensorsWriter(url: folder.appending(path: "model.safetensors"))
    var state = seed | 1
    for (name, shape) in tensors {
      let count = shape.reduce(1, *)
      var bits = [UInt16](repeating: 0x3F80, count: count)  // 1.0: norm weights
      if shape.count == 2 {
        // Uniform in ±0.02·√3 (standard deviation 0.02), bfloat16 by truncation; xorshift64 per value.
        let scale = Float(0.02 * 3.0.squareRoot() * 2) / Float(UInt32.max)
        for index in 0..<count {
          state ^= state << 13
          state ^= state >> 7
          state ^= state << 17
          let value = Float(UInt32(truncatingIfNeeded: state)) * scale - Float(0.02 * 3.0.squareRoot())
          bits[index] = UInt16(value.bitPattern >> 16)
        }
      }
      let bytes = bits.withUnsafeBytes { Array($0) }
      try writer.add(try Tensor(dtype: .bfloat16, shape: shape, bytes: bytes), named: name)
    }
    _ = try writer.finish()
  }
}
