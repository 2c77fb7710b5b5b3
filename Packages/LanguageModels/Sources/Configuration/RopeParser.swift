import QuantCore

/// Reads the RoPE block of a `config.json` as transformers 5 standardizes it (`standardize_rope_params`).
struct RopeParser {
  let reader: ConfigReader
  let architecture: ModelConfiguration.Architecture
  let maxPositions: Int

  func parse() throws(LanguageModelError) -> RopeConfiguration {
    var blockKey = "rope_parameters"
    var block = reader.value("rope_parameters")
    if block == nil || block?.members?.isEmpty == true, let scaling = reader.value("rope_scaling") {
      block = scaling
      blockKey = "rope_scaling"
    }
    guard let block else {
      let theta = try reader.optionalDouble("rope_theta")
      return try finish(RopeConfiguration(theta: theta ?? 10_000), block: .object([]), key: blockKey)
    }
    guard let members = block.members else {
      throw reader.fail(blockKey, "expected an object, found \(block.kindName)")
    }
    if members.contains(where: { ["full_attention", "sliding_attention"].contains($0.key) }) {
      throw reader.fail(blockKey, "RoPE parameters per layer type are not supported")
    }
    let typeValue = block["rope_type"] ?? block["type"]
    var typeName = typeValue?.stringValue ?? "default"
    if typeValue != nil, typeValue?.isNull == false, typeValue?.stringValue == nil {
      throw reader.fail("\(blockKey).rope_type", "expected a string")
    }
    if typeName == "su" || (architecture == .phi3 && typeName == "yarn") { typeName = "longrope" }
    guard let kind = RopeConfiguration.Kind(rawValue: typeName) else {
      throw reader.fail(
        "\(blockKey).rope_type",
        "'\(typeName)' is not supported (supported: \(RopeConfiguration.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    let innerTheta = try number("rope_theta", in: block, key: blockKey)
    let topTheta = try reader.optionalDouble("rope_theta")
    let theta = innerTheta ?? topTheta ?? 10_000
    var rope = RopeConfiguration(theta: theta)
    rope.kind = kind
    return try finish(rope, block: block, key: blockKey)
  }

  private func finish(_ start: RopeConfiguration, block: JSONValue, key: String) throws(LanguageModelError) -> RopeConfiguration {
    var rope = start
    let innerPartial = try number("partial_rotary_factor", in: block, key: key)
    let topPartial = try reader.optionalDouble("partial_rotary_factor")
    rope.partialRotaryFactor = innerPartial ?? topPartial ?? 1
    guard rope.partialRotaryFactor > 0, rope.partialRotaryFactor <= 1 else {
      throw reader.fail("partial_rotary_factor", "expected a value in (0, 1], found \(rope.partialRotaryFactor)")
    }
    guard rope.theta > 0 else { throw reader.fail("rope_theta", "expected a positive number, found \(rope.theta)") }
    rope.factor = try number("factor", in: block, key: key)
    rope.lowFrequencyFactor = try number("low_freq_factor", in: block, key: key)
    rope.highFrequencyFactor = try number("high_freq_factor", in: block, key: key)
    rope.attentionFactor = try number("attention_factor", in: block, key: key)
    rope.betaFast = try number("beta_fast", in: block, key: key)
    rope.betaSlow = try number("beta_slow", in: block, key: key)
    rope.mscale = try number("mscale", in: block, key: key)
    rope.mscaleAllDim = try number("mscale_all_dim", in: block, key: key)
    if let truncate = block["truncate"], !truncate.isNull {
      guard let value = truncate.boolValue else { throw reader.fail("\(key).truncate", "expected true or false") }
      rope.truncate = value
    }
    rope.shortFactor = try reader.doubleList("short_factor", in: block, name: key)
    rope.longFactor = try reader.doubleList("long_factor", in: block, name: key)
    if [.llama3, .yarn, .longrope].contains(rope.kind) {
      if let top = try reader.optionalPositiveInt("original_max_position_embeddings") {
        rope.originalMaxPositionEmbeddings = top
      } else if let inner = try number("original_max_position_embeddings", in: block, key: key) {
        // A double from the file: only an exact, positive integer is a context length (no trap on 1e45).
        guard let positions = Int(exactly: inner), positions > 0 else {
          throw reader.fail("\(key).original_max_position_embeddings", "expected a positive integer, found \(inner)")
        }
        rope.originalMaxPositionEmbeddings = positions
      } else {
        rope.originalMaxPositionEmbeddings = maxPositions
      }
    }
    switch rope.kind {
    case .default: break
    case .linear, .dynamic:
      guard let factor = rope.factor, factor >= 1 else { throw reader.fail("\(key).factor", "expected a number ≥ 1") }
    case .llama3:
      guard rope.factor != nil, let low = rope.lowFrequencyFactor, let high = rope.highFrequencyFactor, high > low else {
        throw reader.fail(key, "llama3 RoPE needs factor, low_freq_factor and high_freq_factor (high > low)")
      }
    case .yarn: break
    case .longrope:
      guard rope.shortFactor != nil, rope.longFactor != nil else {
        throw reader.fail(key, "longrope needs short_factor and long_factor")
      }
    }
    return rope
  }

  private func number(_ name: String, in block: JSONValue, key: String) throws(LanguageModelError) -> Double? {
    guard let value = block[name], !value.isNull else { return nil }
    guard let double = value.numberValue?.doubleValue else {
      throw reader.fail("\(key).\(name)", "expected a number, found \(value.kindName)")
    }
    return double
  }
}
