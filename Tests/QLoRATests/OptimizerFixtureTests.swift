import QLoRA
import Testing

@Suite("AdamW, clipping and schedules against torch and transformers")
struct OptimizerFixtureTests {
  /// Four `clip_grad_norm_(max 1)` + `AdamW(lr 3e-3, wd 0.1)` steps on two parameters.
  @Test func adamWWithClippingMatchesTorch() throws {
    let fixture = try Fixture("optimizer.safetensors")
    var parameters = [try fixture.floats("adamw.p1.0"), try fixture.floats("adamw.p2.0")]
    var optimizer = AdamW(parameterSizes: parameters.map(\.count), settings: .init(weightDecay: 0.1))
    for step in 1...4 {
      var gradients = [try fixture.floats("adamw.g1.\(step)"), try fixture.floats("adamw.g2.\(step)")]
      let norm = GradientClipping.clipGlobalNorm(&gradients, maxNorm: 1)
      #expect(Fixture.relativeError([norm], try fixture.floats("adamw.norm.\(step)")) < 1e-6)
      try optimizer.update(parameters: &parameters, gradients: gradients, learningRate: 3e-3)
      #expect(Fixture.relativeError(parameters[0], try fixture.floats("adamw.p1.\(step)")) < 1e-6)
      #expect(Fixture.relativeError(parameters[1], try fixture.floats("adamw.p2.\(step)")) < 1e-6)
    }
    #expect(optimizer.step == 4)
  }

  @Test(arguments: LearningRateSchedule.allCases)
  func scheduleMatchesTransformers(schedule: LearningRateSchedule) throws {
    let fixture = try Fixture("optimizer.safetensors")
    let expected = try fixture.doubles("schedule.\(schedule.rawValue)")
    let ours = (0..<expected.count).map { schedule.multiplier(completedSteps: $0, warmupSteps: 3, totalSteps: 10) }
    for (a, b) in zip(ours, expected) { #expect(abs(a - b) < 1e-12) }
  }
}
