import Foundation

/// Learning-rate schedules as transformers' `get_*_schedule_with_warmup` (a `LambdaLR` multiplier of the
/// base rate, evaluated at the number of optimizer steps already taken).
public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
  /// A constant rate (`get_constant_schedule`).
  case constant
  /// Linear warmup, then constant (`get_constant_schedule_with_warmup`).
  case constantWithWarmup = "constant_with_warmup"
  /// Linear warmup, then linear decay to 0 at the last step.
  case linear
  /// Linear warmup, then half a cosine to 0 at the last step.
  case cosine

  /// The multiplier for the update after `completedSteps` updates.
  ///
  /// - Parameters:
  ///   - completedSteps: Updates already applied (the first update uses 0).
  ///   - warmupSteps: Warmup length.
  ///   - totalSteps: Total training steps.
  /// - Returns: The factor applied to the base learning rate.
  public func multiplier(completedSteps step: Int, warmupSteps: Int, totalSteps: Int) -> Double {
    if self == .constant { return 1 }
    if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
    switch self {
    case .constant, .constantWithWarmup:
      return 1
    case .linear:
      return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
    case .cosine:
      let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
      return max(0, 0.5 * (1 + Foundation.cos(Double.pi * 0.5 * 2 * progress)))
    }
  }
}
