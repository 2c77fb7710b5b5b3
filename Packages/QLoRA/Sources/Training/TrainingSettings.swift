/// Optimizer and loop settings (the names follow transformers' `TrainingArguments`).
public struct TrainingSettings: Sendable, Codable, Equatable {
  /// The base learning rate.
  public var learningRate: Double
  /// The schedule applied to it.
  public var schedule: LearningRateSchedule
  /// Warmup optimizer steps.
  public var warmupSteps: Int
  /// Total optimizer steps (the schedules decay to 0 there).
  public var totalSteps: Int
  /// Sequences per optimizer step (`batch size × gradient_accumulation_steps`).
  public var sequencesPerStep: Int
  /// Global-norm clipping threshold (`max_grad_norm`); `nil` disables clipping.
  public var maxGradientNorm: Float?
  /// AdamW's hyper-parameters.
  public var adamW: AdamW.Settings
  /// Seeds data shuffling and dropout.
  public var seed: UInt64

  /// Creates settings; the defaults are the QLoRA recipe's (lr 2e-4, constant, clip 0.3, wd 0).
  ///
  /// - Parameters:
  ///   - learningRate: Base learning rate.
  ///   - schedule: Schedule.
  ///   - warmupSteps: Warmup steps.
  ///   - totalSteps: Total optimizer steps.
  ///   - sequencesPerStep: Sequences per optimizer step.
  ///   - maxGradientNorm: Clipping threshold.
  ///   - adamW: AdamW settings.
  ///   - seed: Seed.
  public init(
    learningRate: Double = 2e-4, schedule: LearningRateSchedule = .constant, warmupSteps: Int = 0, totalSteps: Int = 1000,
    sequencesPerStep: Int = 1, maxGradientNorm: Float? = 0.3, adamW: AdamW.Settings = .init(weightDecay: 0),
    seed: UInt64 = 0
  ) {
    self.learningRate = learningRate
    self.schedule = schedule
    self.warmupSteps = warmupSteps
    self.totalSteps = totalSteps
    self.sequencesPerStep = sequencesPerStep
    self.maxGradientNorm = maxGradientNorm
    self.adamW = adamW
    self.seed = seed
  }

  /// Checks the settings.
  ///
  /// - Throws: `QLoRAError.invalidSetting` naming the bad value.
  public func validate() throws(QLoRAError) {
    guard learningRate >= 0, learningRate.isFinite else {
      throw .invalidSetting(name: "learning rate", reason: "\(learningRate)")
    }
    guard sequencesPerStep > 0 else { throw .invalidSetting(name: "batch size", reason: "\(sequencesPerStep) (must be ≥ 1)") }
    guard totalSteps > 0 else { throw .invalidSetting(name: "iters", reason: "\(totalSteps) (must be ≥ 1)") }
    if let maxGradientNorm, !(maxGradientNorm > 0) {
      throw .invalidSetting(name: "max gradient norm", reason: "\(maxGradientNorm)")
    }
  }
}

/// One training sequence: token ids and one label per token (`-100` where no loss is taken).
public struct TrainingExample: Sendable, Codable, Equatable {
  /// Token ids.
  public var tokens: [Int]
  /// Labels (the token ids themselves, or `-100` to mask).
  public var labels: [Int]

  /// Creates an example.
  ///
  /// - Parameters:
  ///   - tokens: Token ids.
  ///   - labels: Labels; `nil` means train on every token.
  public init(tokens: [Int], labels: [Int]? = nil) {
    self.tokens = tokens
    self.labels = labels ?? tokens
  }
}
