import Foundation

/// `torch.optim.AdamW` (single-tensor path): decoupled weight decay, then the bias-corrected Adam
/// update, in float32 with the step-dependent scalars computed in Double as Python does.
public struct AdamW: Sendable, Codable, Equatable {
  /// Hyper-parameters.
  public struct Settings: Sendable, Codable, Equatable {
    /// `betas[0]`.
    public var beta1: Double
    /// `betas[1]`.
    public var beta2: Double
    /// `eps`.
    public var epsilon: Double
    /// `weight_decay` (decoupled: `p ← p·(1 − lr·wd)`).
    public var weightDecay: Double

    /// Creates settings; the defaults are torch's.
    ///
    /// - Parameters:
    ///   - beta1: First-moment decay.
    ///   - beta2: Second-moment decay.
    ///   - epsilon: The denominator's epsilon.
    ///   - weightDecay: Decoupled weight decay.
    public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
      self.beta1 = beta1
      self.beta2 = beta2
      self.epsilon = epsilon
      self.weightDecay = weightDecay
    }
  }

  /// The hyper-parameters.
  public var settings: Settings
  /// Optimizer steps taken.
  public private(set) var step: Int
  /// First moments, one buffer per parameter.
  public private(set) var firstMoments: [[Float]]
  /// Second moments, one buffer per parameter.
  public private(set) var secondMoments: [[Float]]

  /// Creates an optimizer for parameters of the given sizes.
  ///
  /// - Parameters:
  ///   - parameterSizes: The element count of each parameter.
  ///   - settings: Hyper-parameters.
  public init(parameterSizes: [Int], settings: Settings = Settings()) {
    self.settings = settings
    step = 0
    firstMoments = parameterSizes.map { [Float](repeating: 0, count: $0) }
    secondMoments = firstMoments
  }

  /// Applies one update at learning rate `lr` to every parameter.
  ///
  /// - Parameters:
  ///   - parameters: The parameters, in the order of `parameterSizes`.
  ///   - gradients: Their gradients.
  ///   - learningRate: This step's learning rate (after the schedule).
  /// - Throws: `QLoRAError.shapeMismatch` when a buffer's size changed.
  public mutating func update(parameters: inout [[Float]], gradients: [[Float]], learningRate: Double) throws(QLoRAError) {
    guard parameters.count == firstMoments.count, gradients.count == firstMoments.count else {
      throw .shapeMismatch(context: "AdamW parameter list", expected: firstMoments.count, found: parameters.count)
    }
    step += 1
    let s = settings
    let decay = Float(1 - learningRate * s.weightDecay)
    let biasCorrection1 = 1 - Foundation.pow(s.beta1, Double(step))
    let biasCorrection2 = 1 - Foundation.pow(s.beta2, Double(step))
    let stepSize = Float(learningRate / biasCorrection1)
    let correction2Root = Float(biasCorrection2.squareRoot())
    let oneMinusBeta1 = Float(1 - s.beta1)
    let beta2 = Float(s.beta2)
    let oneMinusBeta2 = Float(1 - s.beta2)
    let epsilon = Float(s.epsilon)
    for index in parameters.indices {
      try parameters[index].require(firstMoments[index].count, "AdamW parameter \(index)")
      try gradients[index].require(firstMoments[index].count, "AdamW gradient \(index)")
      gradients[index].withUnsafeBufferPointer { gradient in
        parameters[index].withUnsafeMutableBufferPointer { parameter in
          firstMoments[index].withUnsafeMutableBufferPointer { first in
            secondMoments[index].withUnsafeMutableBufferPointer { second in
              for i in parameter.indices {
                let g = gradient[i]
                var p = parameter[i] * decay
                // exp_avg.lerp_(grad, 1 − β1); exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2).
                let m = first[i] + oneMinusBeta1 * (g - first[i])
                let v = second[i] * beta2 + oneMinusBeta2 * g * g
                first[i] = m
                second[i] = v
                let denominator = v.squareRoot() / correction2Root + epsilon
                p -= stepSize * (m / denominator)
                parameter[i] = p
              }
            }
          }
        }
      }
    }
  }
}
