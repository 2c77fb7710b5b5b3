public import Foundation
import QuantCore
import SafeTensors

/// Per-layer error of a quantized checkpoint against its original.
public struct VerificationReport: Sendable, Codable {
  /// The error of one quantized weight.
  public struct Layer: Sendable, Codable {
    /// The weight's key.
    public var name: String
    /// The format that stored it.
    public var format: String
    /// Elements compared.
    public var elements: Int
    /// Largest absolute difference.
    public var maxAbsoluteError: Double
    /// Root-mean-square difference.
    public var rmsError: Double
    /// Signal-to-noise ratio in dB: `10·log10(Σx² / Σ(x−x̂)²)` (`inf` for an exact match).
    public var snrDecibels: Double
    /// Cosine similarity of the original and decoded weights.
    public var cosine: Double
    /// Whether the layer stays within the thresholds.
    public var passed: Bool
  }

  /// The thresholds a layer must meet (`nil` = not checked).
  public struct Thresholds: Sendable, Codable, Equatable {
    /// Largest allowed RMS error.
    public var maximumRMSError: Double?
    /// Smallest allowed SNR in dB.
    public var minimumSNR: Double?
    /// Smallest allowed cosine similarity.
    public var minimumCosine: Double?
    /// Largest allowed absolute error.
    public var maximumAbsoluteError: Double?

    /// Creates thresholds.
    ///
    /// - Parameters:
    ///   - maximumRMSError: Largest RMS error.
    ///   - minimumSNR: Smallest SNR (dB).
    ///   - minimumCosine: Smallest cosine.
    ///   - maximumAbsoluteError: Largest absolute error.
    public init(
      maximumRMSError: Double? = nil, minimumSNR: Double? = nil, minimumCosine: Double? = nil, maximumAbsoluteError: Double? = nil
    ) {
      self.maximumRMSError = maximumRMSError
      self.minimumSNR = minimumSNR
      self.minimumCosine = minimumCosine
      self.maximumAbsoluteError = maximumAbsoluteError
    }

    func accepts(_ layer: Layer) -> Bool {
      if let maximumRMSError, !(layer.rmsError <= maximumRMSError) { return false }
      if let minimumSNR, !(layer.snrDecibels >= minimumSNR) { return false }
      if let minimumCosine, !(layer.cosine >= minimumCosine) { return false }
      if let maximumAbsoluteError, !(layer.maxAbsoluteError <= maximumAbsoluteError) { return false }
      return true
    }
  }

  /// The quantized checkpoint.
  public var quantized: String
  /// The original.
  public var original: String
  /// The thresholds applied.
  public var thresholds: Thresholds
  /// One entry per quantized weight, in checkpoint order.
  public var layers: [Layer]
  /// Plain tensors identical to the original.
  public var identicalPlainTensors: Int
  /// Plain tensors that differ from the original (they should not).
  public var changedPlainTensors: [String]
  /// Tensors of the original that the quantized checkpoint lacks (it is incomplete).
  public var missingTensors: [String] = []

  /// Whether every layer passed, no plain tensor changed and none is missing.
  public var passed: Bool { layers.allSatisfy(\.passed) && changedPlainTensors.isEmpty && missingTensors.isEmpty }
}

extension CheckpointPatcher {
  /// Compares every quantized weight of a checkpoint, decoded through its format, with the original
  /// weights, checks plain tensors for equality, and lists the original's tensors the checkpoint lacks.
  ///
  /// - Parameters:
  ///   - quantized: The quantized model folder or file.
  ///   - original: The unquantized model folder or file.
  ///   - thresholds: Per-layer limits.
  /// - Returns: The report (check ``VerificationReport/passed``).
  /// - Throws: `ModelPatcherError` for unreadable input, or an original that lacks a weight.
  public func verify(
    quantized: URL, against original: URL, thresholds: VerificationReport.Thresholds = .init()
  ) throws(ModelPatcherError) -> VerificationReport {
    let checkpoint = try loadCheckpoint(at: quantized)
    let reference = try ModelInput(url: original)
    var report = VerificationReport(
      quantized: quantized.path, original: original.path, thresholds: thresholds, layers: [], identicalPlainTensors: 0,
      changedPlainTensors: [])
    for item in checkpoint.items {
      FaultInjection.pause(at: "verify")
      guard let originalTensor = try? reference.checkpoint.tensor(named: item.name) else {
        throw .invalidInput(file: original.path, tensor: item.name, message: "the original has no tensor of this name")
      }
      guard let format = item.format else {
        let plain = checkpoint.plainTensor(named: item.name)
        if plain?.dtype == originalTensor.dtype && plain?.shape == originalTensor.shape && plain?.bytes == originalTensor.bytes {
          report.identicalPlainTensors += 1
        } else {
          report.changedPlainTensors.append(item.name)
        }
        continue
      }
      guard originalTensor.shape == item.shape else {
        throw .invalidInput(
          file: original.path, tensor: item.name,
          message: "shape \(originalTensor.shape) differs from the quantized \(item.shape)")
      }
      let decoded = try checkpoint.decoded(item, to: .float32)
      let x: [Float]
      let y: [Float]
      do {
        x = try originalTensor.floats()
        y = try decoded.floats()
      } catch {
        throw .tensor(file: original.path, tensor: item.name, format: format, error: error)
      }
      var layer = CheckpointPatcher.metrics(x, y)
      layer.name = item.name
      layer.format = format
      layer.passed = thresholds.accepts(layer)
      report.layers.append(layer)
    }
    let present = Set(checkpoint.items.map(\.name))
    report.missingTensors = reference.checkpoint.tensorNames.filter { !present.contains($0) }
    return report
  }

  static func metrics(_ x: [Float], _ y: [Float]) -> VerificationReport.Layer {
    var maxAbs = 0.0
    var errorSquares = 0.0
    var signal = 0.0
    var decoded = 0.0
    var dot = 0.0
    for index in x.indices {
      let a = Double(x[index])
      let b = Double(y[index])
      let difference = a - b
      maxAbs = max(maxAbs, abs(difference))
      errorSquares += difference * difference
      signal += a * a
      decoded += b * b
      dot += a * b
    }
    let count = Double(max(x.count, 1))
    let snr = errorSquares == 0 ? Double.infinity : 10 * log10(signal / errorSquares)
    let cosine = signal == 0 || decoded == 0 ? (signal == decoded ? 1 : 0) : dot / (signal.squareRoot() * decoded.squareRoot())
    return VerificationReport.Layer(
      name: "", format: "", elements: x.count, maxAbsoluteError: maxAbs, rmsError: (errorSquares / count).squareRoot(),
      snrDecibels: snr, cosine: cosine, passed: true)
  }
}
