/// The training loop: seeded shuffling, gradient accumulation over a step's sequences (the loss divided by
/// the step's counted tokens, as transformers' `num_items_in_batch`), global-norm clipping, the schedule
/// and AdamW on fp32 master adapter weights. Its whole state is a ``TrainerState``, so a run resumes
/// bit-exactly.
public struct LoRATrainer: Sendable {
  /// The model and its adapters.
  public var model: TrainableModel
  /// Settings.
  public let settings: TrainingSettings
  /// The data.
  public let examples: [TrainingExample]
  /// AdamW's moments and step count.
  public private(set) var optimizer: AdamW
  private var dropoutGenerator: SeededGenerator
  private var shuffleGenerator: SeededGenerator
  private var order: [Int] = []
  private var cursor = 0

  /// What one optimizer step did.
  public struct StepReport: Sendable, Equatable {
    /// The optimizer step number (1-based).
    public var step: Int
    /// The step's loss (summed over its sequences, divided by its counted tokens).
    public var loss: Float
    /// Counted (non-masked) tokens.
    public var tokens: Int
    /// The gradient norm before clipping.
    public var gradientNorm: Float
    /// The learning rate used.
    public var learningRate: Double
  }

  /// Creates a trainer.
  ///
  /// - Parameters:
  ///   - model: A model with adapters (``TrainableModel/addAdapters(configuration:targets:seed:)``).
  ///   - examples: Training sequences.
  ///   - settings: Settings.
  /// - Throws: `QLoRAError.invalidSetting` on empty data, no adapters or bad settings.
  public init(model: TrainableModel, examples: [TrainingExample], settings: TrainingSettings) throws(QLoRAError) {
    try settings.validate()
    guard !examples.isEmpty else { throw .invalidSetting(name: "data", reason: "no training examples") }
    guard !model.adapters.isEmpty else { throw .invalidSetting(name: "adapters", reason: "the model has no adapters") }
    for (index, example) in examples.enumerated() where example.tokens.count > model.maximumPositions {
      throw .invalidSetting(
        name: "example \(index)",
        reason: "\(example.tokens.count) tokens exceed max_position_embeddings \(model.maximumPositions)")
    }
    self.model = model
    self.examples = examples
    self.settings = settings
    optimizer = AdamW(parameterSizes: Self.parameterSizes(model), settings: settings.adamW)
    dropoutGenerator = SeededGenerator(seed: settings.seed ^ 0x5EED_D80F)
    shuffleGenerator = SeededGenerator(seed: settings.seed)
  }

  static func parameterSizes(_ model: TrainableModel) -> [Int] {
    model.adapterNames.flatMap { name in [model.adapters[name]?.a.count ?? 0, model.adapters[name]?.b.count ?? 0] }
  }

  /// Optimizer steps taken.
  public var step: Int { optimizer.step }

  private mutating func nextExample() -> TrainingExample {
    if cursor >= order.count {
      // Fisher–Yates with our own generator: the order is the same on every platform and Swift version.
      order = Array(examples.indices)
      if order.count > 1 {
        for i in stride(from: order.count - 1, to: 0, by: -1) {
          let j = Int(shuffleGenerator.next() % UInt64(i + 1))
          order.swapAt(i, j)
        }
      }
      cursor = 0
    }
    defer { cursor += 1 }
    return examples[order[cursor]]
  }

  /// Runs one optimizer step over the next ``TrainingSettings/sequencesPerStep`` sequences.
  ///
  /// - Returns: The step's loss, token count, gradient norm and learning rate.
  /// - Throws: `QLoRAError.nonFiniteLoss` (adapters and optimizer unchanged) or bad-input errors.
  public mutating func trainStep() throws(QLoRAError) -> StepReport {
    let batch = (0..<settings.sequencesPerStep).map { _ in nextExample() }
    let counted = batch.reduce(0) { total, example in
      total + ChunkedCrossEntropy.shiftedTargets(example.labels).filter { $0 != ChunkedCrossEntropy.ignoreIndex }.count
    }
    let normalizer = Float(max(counted, 1))
    model.zeroGradients()
    var loss: Float = 0
    var generator: SeededGenerator? = model.loraConfiguration.dropout > 0 ? dropoutGenerator : nil
    for example in batch {
      let result = try model.accumulateGradients(
        tokens: example.tokens, labels: example.labels, normalizer: normalizer, generator: &generator)
      loss += result.loss
    }
    guard loss.isFinite else {
      model.zeroGradients()
      throw .nonFiniteLoss(step: optimizer.step + 1)
    }
    if let generator { dropoutGenerator = generator }
    let names = model.adapterNames
    // The buffers are moved out of the adapters (and back below), so that clipping and the update change them in
    // place instead of copying every factor and gradient.
    var gradients: [[Float]] = []
    var parameters: [[Float]] = []
    for name in names {
      guard let adapter = model.adapters[name] else { continue }
      gradients += [adapter.gradientA, adapter.gradientB]
      parameters += [adapter.a, adapter.b]
      model.adapters[name]?.gradientA = []
      model.adapters[name]?.gradientB = []
      model.adapters[name]?.a = []
      model.adapters[name]?.b = []
    }
    let norm: Float
    if let maxNorm = settings.maxGradientNorm {
      norm = GradientClipping.clipGlobalNorm(&gradients, maxNorm: maxNorm)
    } else {
      norm = GradientClipping.globalNorm(gradients)
    }
    let rate =
      settings.learningRate
      * settings.schedule.multiplier(
        completedSteps: optimizer.step, warmupSteps: settings.warmupSteps, totalSteps: settings.totalSteps)
    do {
      try optimizer.update(parameters: &parameters, gradients: gradients, learningRate: rate)
    } catch {
      restore(names, parameters: parameters, gradients: gradients)
      throw error
    }
    restore(names, parameters: parameters, gradients: gradients)
    model.zeroGradients()
    return StepReport(step: optimizer.step, loss: loss, tokens: counted, gradientNorm: norm, learningRate: rate)
  }

  /// Puts the factors and gradients that ``trainStep()`` moved out back into the adapters.
  private mutating func restore(_ names: [String], parameters: [[Float]], gradients: [[Float]]) {
    for (index, name) in names.enumerated() where 2 * index + 1 < parameters.count {
      model.adapters[name]?.a = parameters[2 * index]
      model.adapters[name]?.b = parameters[2 * index + 1]
      model.adapters[name]?.gradientA = gradients[2 * index]
      model.adapters[name]?.gradientB = gradients[2 * index + 1]
    }
  }

  /// The mean loss over `examples` with the current adapters (no dropout, no gradients kept).
  ///
  /// - Parameter examples: Validation sequences.
  /// - Returns: The token-weighted mean loss.
  /// - Throws: Bad-input errors.
  public func evaluate(_ examples: [TrainingExample]) throws(QLoRAError) -> Float {
    var probe = model
    var total: Double = 0
    var tokens = 0
    for example in examples {
      var none: SeededGenerator? = nil
      let result = try probe.accumulateGradients(
        tokens: example.tokens, labels: example.labels, normalizer: 1, generator: &none)
      total += Double(result.loss)
      tokens += result.tokens
    }
    return Float(total / Double(max(tokens, 1)))
  }
}

extension LoRATrainer {
  /// Everything a resumed run needs: adapter weights, AdamW moments and step, the generators and the data
  /// order.
  public struct TrainerState: Sendable, Codable, Equatable {
    /// Adapter factors by module path: `[A, B]`.
    public var factors: [String: [[Float]]]
    /// The optimizer.
    public var optimizer: AdamW
    /// Dropout generator.
    public var dropoutGenerator: SeededGenerator
    /// Shuffle generator.
    public var shuffleGenerator: SeededGenerator
    /// The current epoch's order.
    public var order: [Int]
    /// Position in `order`.
    public var cursor: Int
  }

  /// The state to checkpoint.
  public var state: TrainerState {
    TrainerState(
      factors: model.adapters.mapValues { [$0.a, $0.b] }, optimizer: optimizer, dropoutGenerator: dropoutGenerator,
      shuffleGenerator: shuffleGenerator, order: order, cursor: cursor)
  }

  /// Restores a checkpointed state.
  ///
  /// - Parameter state: A state from ``state`` of a trainer with the same model, adapters and data.
  /// - Throws: `QLoRAError` when the adapters or sizes differ.
  public mutating func restore(_ state: TrainerState) throws(QLoRAError) {
    guard Set(state.factors.keys) == Set(model.adapters.keys) else {
      throw .invalidSetting(name: "resume state", reason: "its adapters differ from the model's")
    }
    for (name, factors) in state.factors {
      guard factors.count == 2, let adapter = model.adapters[name] else {
        throw .invalidSetting(name: "resume state", reason: "adapter \(name) is incomplete")
      }
      try factors[0].require(adapter.a.count, "resume lora_A of \(name)")
      try factors[1].require(adapter.b.count, "resume lora_B of \(name)")
      model.adapters[name]?.a = factors[0]
      model.adapters[name]?.b = factors[1]
    }
    guard state.optimizer.firstMoments.map(\.count) == Self.parameterSizes(model) else {
      throw .invalidSetting(name: "resume state", reason: "optimizer moments do not match the adapters")
    }
    guard state.order.allSatisfy({ examples.indices.contains($0) }) else {
      throw .invalidSetting(name: "resume state", reason: "the data order refers to examples that do not exist")
    }
    optimizer = state.optimizer
    dropoutGenerator = state.dropoutGenerator
    shuffleGenerator = state.shuffleGenerator
    order = state.order
    cursor = state.cursor
  }
}
