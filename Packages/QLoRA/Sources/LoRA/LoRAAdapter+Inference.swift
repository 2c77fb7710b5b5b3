public import LanguageModels

/// A trained or PEFT-loaded adapter runs in the runtime through its adapter hook: registered with
/// `LanguageModel.setAdapter(_:for:)`, it adds `s · (x·Aᵀ)·Bᵀ` to the projection's output (no dropout: inference).
extension LoRAAdapter: LinearAdapter {
  /// `(inFeatures, outFeatures)`: attaching to a projection of another shape is refused.
  public var projectionShape: (inFeatures: Int, outFeatures: Int)? { (inFeatures, outFeatures) }

  /// Adds the adapter's term to a projection's output.
  ///
  /// - Parameters:
  ///   - input: The projection's input `[rows, inFeatures]`.
  ///   - rows: The number of rows.
  ///   - output: The projection's output `[rows, outFeatures]`, to add to.
  public func addDelta(input: UnsafeBufferPointer<Float>, rows: Int, output: UnsafeMutableBufferPointer<Float>) {
    addOutput(projected: project(input, rows: rows, threads: 1), into: output)
  }
}
