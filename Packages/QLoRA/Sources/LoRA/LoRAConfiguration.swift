/// The LoRA hyper-parameters PEFT's `LoraConfig` stores.
public struct LoRAConfiguration: Sendable, Equatable {
  /// The rank `r`.
  public var rank: Int
  /// `lora_alpha`.
  public var alpha: Float
  /// `lora_dropout`, applied to the adapter input while training.
  public var dropout: Float
  /// `use_rslora`: scale by `alpha/√r` instead of `alpha/r`.
  public var useRSLoRA: Bool

  /// Creates a configuration.
  ///
  /// - Parameters:
  ///   - rank: The rank.
  ///   - alpha: `lora_alpha`.
  ///   - dropout: `lora_dropout`.
  ///   - useRSLoRA: rsLoRA scaling.
  public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0, useRSLoRA: Bool = false) {
    self.rank = rank
    self.alpha = alpha
    self.dropout = dropout
    self.useRSLoRA = useRSLoRA
  }

  /// The output multiplier `s` (`alpha/r`, or `alpha/√r` with rsLoRA).
  public var scaling: Float { useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }

  /// Checks the settings.
  ///
  /// - Throws: `QLoRAError.invalidSetting` on a non-positive rank or a dropout outside `[0, 1)`.
  public func validate() throws(QLoRAError) {
    guard rank > 0 else { throw .invalidSetting(name: "rank", reason: "\(rank) (must be at least 1)") }
    guard dropout >= 0, dropout < 1 else { throw .invalidSetting(name: "dropout", reason: "\(dropout) is not in [0, 1)") }
    guard alpha.isFinite else { throw .invalidSetting(name: "alpha", reason: "\(alpha) is not finite") }
  }
}
