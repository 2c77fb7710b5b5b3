import BitsAndBytes
import ChatTemplates
public import Foundation
import LanguageModels
import ModelPatcher
import QLoRA
import QuantCore
import SafeTensors
import Tokenizers

/// A parser or loader that the fuzzers drive with arbitrary bytes.
///
/// Each target feeds its input to the same public entry points a user's file reaches. Any thrown error
/// is an accepted outcome (the input was rejected with a message); a trap, a hang or an unbounded
/// allocation is a finding. The same code runs under libFuzzer (`Tools/fuzz/run.sh`) and, without a
/// fuzzer, replays the committed corpora and crash inputs in `swift test` (`FuzzRegressionTests`).
public enum FuzzTarget: String, CaseIterable, Sendable {
  /// A whole `.safetensors` file: header validation, then every tensor read, then every format's
  /// checkpoint loader over the tensors and a decode of what loads.
  case safetensors
  /// The JSON text of a bitsandbytes 4-bit `quant_state` tensor, beside a small packed weight.
  case quantState = "quant-state"
  /// A `quant.yaml` job file.
  case jobYAML = "job-yaml"
  /// A registry configuration YAML file, applied to the standard registry.
  case registryYAML = "registry-yaml"
  /// JSON text through the project's JSON parser (safetensors headers, `config.json`, quant states).
  case json
  /// A `tokenizer.json`: the whole pipeline is built, then a short text is encoded, decoded and streamed.
  case tokenizerJSON = "tokenizer-json"
  /// A chat template: parsed, then rendered with a small conversation.
  case chatTemplate = "chat-template"
  /// A model's `config.json`, read as the runtime reads it.
  case modelConfig = "model-config"
  /// A LoRA training data file (JSONL: text, prompt/completion or messages per line).
  case loraJSONL = "lora-jsonl"
  /// A PEFT adapter: the bytes of `adapter_config.json`, one NUL byte, then those of
  /// `adapter_model.safetensors`; every adapter that loads is applied to one row of input.
  case adapter

  /// The largest logical tensor the harness decodes (elements); larger well-formed tensors are only
  /// loaded, so that the fuzzer spends its time on parsing rather than on arithmetic.
  static let decodeLimit = 1 << 16

  /// Runs the target on one input.
  ///
  /// - Parameter input: The bytes.
  public func run(_ input: UnsafeRawBufferPointer) {
    switch self {
    case .safetensors: Self.runSafeTensors(input)
    case .quantState: Self.runQuantState(input)
    case .jobYAML: Self.runJobYAML(input)
    case .registryYAML: Self.runRegistryYAML(input)
    case .json: _ = try? JSONParser.parse(input)
    case .tokenizerJSON: Self.runTokenizer(Data(input))
    case .chatTemplate: Self.runChatTemplate(String(decoding: input, as: UTF8.self))
    case .modelConfig: _ = try? ModelConfiguration(jsonText: String(decoding: input, as: UTF8.self), file: "fuzz.json")
    case .loraJSONL: _ = try? JSONLDataset.records(from: Data(input), file: "fuzz.jsonl", skipBadLines: true)
    case .adapter: Self.runAdapter(input)
    }
  }

  /// Runs the target on the bytes of a file.
  ///
  /// - Parameter data: The file's contents.
  public func run(_ data: Data) {
    data.withUnsafeBytes { run($0) }
  }

  // MARK: - Targets

  private static let registry: QuantRegistry? = try? StandardRegistry.make()

  private static func runSafeTensors(_ input: UnsafeRawBufferPointer) {
    guard let source = tensors(inSafeTensors: input) else { return }
    loadEveryFormat(from: source)
  }

  /// Every tensor of a `.safetensors` file held in memory, or `nil` when its header is refused.
  private static func tensors(inSafeTensors input: UnsafeRawBufferPointer) -> InMemoryTensorSource? {
    guard let header = try? SafeTensorsHeader(fileBytes: input, file: "fuzz.safetensors") else { return nil }
    var tensors: [String: Tensor] = [:]
    for entry in header.entries {
      let start = header.dataStart + entry.start
      let end = header.dataStart + entry.end
      guard start <= end, end <= input.count else { fatalError("a validated entry lies outside the file") }
      let bytes = [UInt8](input[start..<end])
      guard let tensor = try? Tensor(dtype: entry.dtype, shape: entry.shape, bytes: bytes) else {
        fatalError("a validated entry '\(entry.name)' does not make a tensor")
      }
      tensors[entry.name] = tensor
    }
    return InMemoryTensorSource(tensors)
  }

  private static func runAdapter(_ input: UnsafeRawBufferPointer) {
    let bytes = [UInt8](input)
    let split = bytes.firstIndex(of: 0) ?? bytes.endIndex
    guard
      let configuration = try? PEFTAdapterConfiguration(jsonBytes: Array(bytes[..<split]), file: "fuzz/adapter_config.json")
    else { return }
    let weights = split < bytes.endIndex ? Array(bytes[(split + 1)...]) : []
    guard let source = weights.withUnsafeBytes({ tensors(inSafeTensors: $0) }),
      let adapters = try? PEFTAdapterFiles.adapters(
        from: source, file: "fuzz/adapter_model.safetensors", configuration: configuration)
    else { return }
    for adapter in adapters.values {
      guard let (inFeatures, outFeatures) = adapter.projectionShape, inFeatures <= decodeLimit, outFeatures <= decodeLimit
      else { continue }
      let row = [Float](repeating: 0.25, count: inFeatures)
      var output = [Float](repeating: 0, count: outFeatures)
      row.withUnsafeBufferPointer { x in
        output.withUnsafeMutableBufferPointer { y in adapter.addDelta(input: x, rows: 1, output: y) }
      }
    }
  }

  private static func runQuantState(_ input: UnsafeRawBufferPointer) {
    let name = "layer.weight"
    let bytes = [UInt8](input)
    // Companion tensors sized from the state's own fields where they are small and sane, so that the
    // loader gets past its size checks and into decoding; anything else keeps a fixed small size.
    let fields = (try? JSONParser.parse(input))?.members ?? []
    func integer(_ key: String, in range: ClosedRange<Int>, default value: Int) -> Int {
      guard let number = fields.first(where: { $0.key == key })?.value.numberValue?.doubleValue,
        let exact = Int(exactly: number), range.contains(exact)
      else { return value }
      return exact
    }
    let shapeValues = fields.first(where: { $0.key == "shape" })?.value.elements?.compactMap { $0.numberValue?.doubleValue } ?? []
    let shape = shapeValues.compactMap { Int(exactly: $0) }
    // The product of many small dimensions can still overflow (a finding in the harness itself, not the loader).
    let product = shape.reduce((1, false)) { partial, dimension in
      let next = partial.0.multipliedReportingOverflow(by: dimension)
      return (next.partialValue, partial.1 || next.overflow)
    }
    let saneShape = shape.count == shapeValues.count && shape.allSatisfy({ (0...4096).contains($0) }) && !product.1
    let count = saneShape ? product.0 : 64
    let elements = count <= decodeLimit ? count : 64
    let blocksize = integer("blocksize", in: 1...4096, default: 64)
    let nestedBlocksize = integer("nested_blocksize", in: 1...4096, default: 256)
    let blocks = (elements + blocksize - 1) / blocksize
    let nestedBlocks = (blocks + nestedBlocksize - 1) / nestedBlocksize
    guard
      let state = try? Tensor(dtype: .uint8, shape: [bytes.count], bytes: bytes),
      let packed = try? Tensor(
        dtype: .uint8, shape: [(elements + 1) / 2, 1], bytes: [UInt8](repeating: 0x5A, count: (elements + 1) / 2)),
      let absmax = try? Tensor([Float](repeating: 1, count: blocks), shape: [blocks]),
      let absmaxCodes = try? Tensor(dtype: .uint8, shape: [blocks], bytes: [UInt8](repeating: 200, count: blocks)),
      let quantMap = try? Tensor((0..<16).map { Float($0) / 15 }, shape: [16]),
      let nestedAbsmax = try? Tensor([Float](repeating: 1, count: nestedBlocks), shape: [nestedBlocks]),
      let nestedMap = try? Tensor((0..<256).map { Float($0) / 255 - 0.5 }, shape: [256])
    else { return }
    let nested = fields.contains { $0.key == "nested_blocksize" }
    var tensors: [String: Tensor] = [
      name: packed, name + ".absmax": nested ? absmaxCodes : absmax, name + ".quant_map": quantMap,
    ]
    if nested {
      tensors[name + ".nested_absmax"] = nestedAbsmax
      tensors[name + ".nested_quant_map"] = nestedMap
    }
    for kind in ["nf4", "fp4"] { tensors[name + ".quant_state.bitsandbytes__" + kind] = state }
    loadEveryFormat(from: InMemoryTensorSource(tensors))
  }

  private static func runTokenizer(_ data: Data) {
    guard let tokenizer = try? Tokenizer(tokenizerJSON: data, file: "fuzz/tokenizer.json") else { return }
    let text = "Hello, world! 123 héllo 🙂 <s>\n\t  x"
    let ids = tokenizer.encode(text)
    _ = tokenizer.decode(ids, skipSpecialTokens: false)
    _ = tokenizer.decode(ids + [0, 1, tokenizer.vocabularySize, -1], skipSpecialTokens: true)
    var stream = tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true)
    for id in ids { _ = stream.append(id) }
    _ = stream.finish()
  }

  private static func runChatTemplate(_ source: String) {
    guard let template = try? ChatTemplate(source: source) else { return }
    let message: (String, String) -> JinjaValue = { role, content in
      .dictionary(JinjaDictionary([("role", .string(role)), ("content", .string(content))]))
    }
    let variables: [String: JinjaValue] = [
      "messages": .array([message("system", "Be brief."), message("user", "Hi"), message("assistant", "Hello")]),
      "add_generation_prompt": .bool(true), "bos_token": .string("<s>"), "eos_token": .string("</s>"),
    ]
    _ = try? template.render(variables: variables, now: Date(timeIntervalSince1970: 1_700_000_000))
  }

  private static func runJobYAML(_ input: UnsafeRawBufferPointer) {
    guard let text = String(validating: input, as: UTF8.self),
      let document = try? YAMLDocument(text: text, file: "fuzz.yaml")
    else { return }
    _ = try? QuantizationJob(yaml: document.root, baseFolder: URL(filePath: "/nonexistent-fuzz-folder"))
  }

  private static func runRegistryYAML(_ input: UnsafeRawBufferPointer) {
    guard let text = String(validating: input, as: UTF8.self),
      let document = try? YAMLDocument(text: text, file: "fuzz.yaml"),
      let configuration = try? RegistryConfiguration(node: document.root),
      let registry = try? StandardRegistry.make()
    else { return }
    try? registry.apply(configuration)
  }

  /// Offers every tensor whose name ends in `.weight` (and every name) to every registered format's
  /// checkpoint loader, and decodes what loads when it is small.
  private static func loadEveryFormat(from source: InMemoryTensorSource) {
    guard let registry else { return }
    let names = Set(source.tensorNames.map { $0.hasSuffix(".weight") ? $0 : $0 + ".weight" } + source.tensorNames)
    for entry in registry.formats {
      for name in names.sorted() {
        guard let loaded = try? entry.format.loadCheckpoint(weightName: name, from: source) else { continue }
        let (count, overflow) = loaded.shape.reduce((1, false)) { partial, dimension in
          let product = partial.0.multipliedReportingOverflow(by: max(dimension, 0))
          return (product.partialValue, partial.1 || product.overflow)
        }
        guard !overflow, count <= decodeLimit else { continue }
        _ = try? entry.format.dequantize(loaded, to: .float32)
        for backend in registry.backends.map(\.backend) where backend.isAvailable {
          _ = try? backend.dequantize(loaded, to: .float32)
          guard loaded.shape.count == 2, let columns = loaded.shape.last,
            let input = try? Tensor([Float](repeating: 0.5, count: columns), shape: [1, columns])
          else { continue }
          _ = try? backend.linear(input, weight: loaded, bias: nil)
        }
      }
    }
  }
}
