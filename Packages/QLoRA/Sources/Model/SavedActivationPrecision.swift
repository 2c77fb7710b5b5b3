/// How a training step stores the activations its backward pass reads (the projections' outputs, the
/// attention output and the residual of each block) between the forward and the backward pass.
public enum SavedActivationPrecision: String, Sendable, CaseIterable {
  /// float32: the gradients are exactly those of the float32 forward pass (the default).
  case float32
  /// bfloat16 (rounded to nearest even): a kept block takes half the memory, so about twice as many blocks fit
  /// in ``TrainableModel/retainedActivationBytes``. The loss is unchanged (the forward pass still runs in
  /// float32); the gradients read the rounded activations, about 2⁻⁹ relative error per element, as under a
  /// bfloat16 compute dtype. Kept and recomputed blocks are rounded alike, so the budget still changes no bit.
  case bfloat16
}
