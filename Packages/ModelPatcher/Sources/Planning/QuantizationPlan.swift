public import QuantCore
public import SafeTensors

/// What happens to each tensor of a model: quantized with a format and parameters, or kept as it is
/// (and why).
///
/// Which tensors are candidates follows transformers (spec §4.4): only the weights of linear layers
/// are quantized. Here a *candidate* is a 2-D floating-point tensor named `*.weight`; in a model
/// folder, embeddings (modules named `*embed*`, `wte`, `wpe`) are not candidates, and the modules in
/// `llm_int8_skip_modules` — by default the output embedding `lm_head` — are skipped. Rules then pick
/// the format of each candidate, or keep it (`format: none`).
public struct QuantizationPlan: Sendable {
  /// One tensor of the input and its fate.
  public struct Item: Sendable {
    /// The checkpoint key.
    public var name: String
    /// The element type.
    public var dtype: DType
    /// The dimensions.
    public var shape: [Int]
    /// The number of bytes in the input.
    public var byteCount: Int
    /// What happens to it.
    public var action: Action

    /// The number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
  }

  /// What happens to a tensor.
  public enum Action: Sendable, Equatable {
    /// Quantized with this format (registry name) and these parameters (defaults applied).
    case quantize(format: String, parameters: FormatParameters)
    /// Written unchanged.
    case keep(KeepReason)

    /// Whether the tensor is quantized.
    public var isQuantized: Bool { if case .quantize = self { true } else { false } }
  }

  /// Why a tensor is written unchanged.
  public enum KeepReason: Sendable, Equatable, CustomStringConvertible {
    /// Not named `*.weight` (biases, buffers, …).
    case notAWeight
    /// Not a 2-D tensor (norms, convolutions, scalars, …).
    case notTwoDimensional
    /// Not a floating-point tensor.
    case notFloatingPoint
    /// No elements.
    case empty
    /// An embedding (never quantized by transformers).
    case embedding
    /// Listed in `llm_int8_skip_modules` (or transformers' default skip list); the matching entry.
    case skippedModule(String)
    /// A rule with `format: none`; the rule's pattern.
    case rule(String)

    /// A short explanation.
    public var description: String {
      switch self {
      case .notAWeight: "not a weight"
      case .notTwoDimensional: "not 2-D"
      case .notFloatingPoint: "not floating point"
      case .empty: "empty"
      case .embedding: "embedding"
      case .skippedModule(let module): "skip module '\(module)'"
      case .rule(let pattern): "rule '\(pattern)'"
      }
    }
  }

  /// Every tensor in input order.
  public var items: [Item]

  /// The tensors that will be quantized.
  public var quantizedItems: [Item] { items.filter(\.action.isQuantized) }

  /// Builds the plan for a set of tensors.
  ///
  /// - Parameters:
  ///   - entries: The input tensors (name, dtype, shape, bytes).
  ///   - isModelFolder: Whether the input is a model folder (embeddings and default skips apply) or a
  ///     bare file (every 2-D float `*.weight` is a candidate).
  ///   - defaultFormat: The format for candidates without a rule.
  ///   - defaultParameters: Its parameters, fully resolved.
  ///   - skipModules: `llm_int8_skip_modules`, or `nil` for the default (`lm_head` in a folder).
  ///   - rules: The rules, first match wins; each with its resolved format and parameters.
  /// - Returns: The plan.
  public static func make(
    entries: [SafeTensorsEntry], isModelFolder: Bool, defaultFormat: String, defaultParameters: FormatParameters,
    skipModules: [String]?, rules: [(rule: TensorRule, parameters: FormatParameters)]
  ) -> QuantizationPlan {
    // Compiled once; an entry the job check refused (only reachable from code) still matches as a suffix.
    let skip = (skipModules ?? (isModelFolder ? ["lm_head"] : [])).uniqued().map { entry in
      (entry, try? SkipModulePattern(entry))
    }
    FaultInjection.pause(at: "plan")
    let items = entries.map { entry -> Item in
      var item = Item(
        name: entry.name, dtype: entry.dtype, shape: entry.shape, byteCount: entry.byteCount, action: .keep(.notAWeight))
      item.action = action(for: entry, isModelFolder: isModelFolder, skip: skip, rules: rules) {
        .quantize(format: defaultFormat, parameters: defaultParameters)
      }
      return item
    }
    return QuantizationPlan(items: items)
  }

  static func action(
    for entry: SafeTensorsEntry, isModelFolder: Bool, skip: [(entry: String, pattern: SkipModulePattern?)],
    rules: [(rule: TensorRule, parameters: FormatParameters)],
    default defaultAction: () -> Action
  ) -> Action {
    guard entry.name == "weight" || entry.name.hasSuffix(".weight") else { return .keep(.notAWeight) }
    guard entry.dtype.isFloatingPoint else { return .keep(.notFloatingPoint) }
    guard entry.shape.count == 2 else { return .keep(.notTwoDimensional) }
    guard entry.byteCount > 0 else { return .keep(.empty) }
    let module = entry.name == "weight" ? "" : String(entry.name.dropLast(".weight".count))
    if isModelFolder && isEmbedding(module) { return .keep(.embedding) }
    if let match = skip.first(where: { $0.pattern?.matches(module: module) ?? module.hasSuffix($0.entry) }) {
      return .keep(.skippedModule(match.entry))
    }
    if let match = rules.first(where: { $0.rule.matches(entry.name) }) {
      guard let format = match.rule.format else { return .keep(.rule(match.rule.pattern)) }
      return .quantize(format: format, parameters: match.parameters)
    }
    return defaultAction()
  }

  /// Whether a module is an embedding by name (`embed_tokens`, `word_embeddings`, `wte`, `wpe`, …).
  static func isEmbedding(_ module: String) -> Bool {
    let last = module.split(separator: ".").last.map(String.init) ?? module
    return last.lowercased().contains("embed") || last == "wte" || last == "wpe"
  }

  /// transformers' `should_convert_module` test (``SkipModulePattern``), for one entry.
  static func matchesSkipModule(_ module: String, _ entry: String) -> Bool {
    (try? SkipModulePattern(entry))?.matches(module: module) ?? module.hasSuffix(entry)
  }
}

extension Array where Element: Hashable {
  /// The elements in order, each first occurrence only.
  fileprivate func uniqued() -> [Element] {
    var seen = Set<Element>()
    return filter { seen.insert($0).inserted }
  }
}
