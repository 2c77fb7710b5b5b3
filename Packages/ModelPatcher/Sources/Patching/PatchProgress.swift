import Foundation

/// Progress of a whole-model operation, reported after each tensor.
public struct PatchProgress: Sendable {
  /// Tensors done.
  public var completedTensors: Int
  /// Tensors in all.
  public var totalTensors: Int
  /// Input bytes done.
  public var completedBytes: Int
  /// Input bytes in all.
  public var totalBytes: Int
  /// The tensor just finished.
  public var tensorName: String
  /// What happened to it (`"nf4"`, `"kept"`, …).
  public var action: String
  /// Seconds since the start.
  public var elapsed: Double
}

/// Events reported while a model is processed.
public enum PatchEvent: Sendable {
  /// Work starts: the number of tensors and input bytes.
  case started(tensors: Int, bytes: Int)
  /// One more tensor is written.
  case progress(PatchProgress)
  /// Something the user should know but that does not stop the job.
  case warning(String)
}

/// Receives ``PatchEvent``s (called from one task at a time).
public typealias PatchEventHandler = @Sendable (PatchEvent) -> Void

/// What a whole-model operation did.
public struct PatchSummary: Sendable, Codable {
  /// The input folder or file.
  public var input: String
  /// The output folder or file.
  public var output: String
  /// Tensors quantized (or, for dequantization, decoded).
  public var quantizedTensors: Int
  /// Tensors written unchanged.
  public var keptTensors: Int
  /// Tensors per format name.
  public var formats: [String: Int]
  /// Tensor bytes read.
  public var inputBytes: Int
  /// Tensor bytes written.
  public var outputBytes: Int
  /// Parameters in the input tensors.
  public var parameters: Int
  /// Parameters that were quantized.
  public var quantizedParameters: Int
  /// Bytes written for the quantized tensors (data and state).
  public var quantizedBytes: Int
  /// Seconds from start to finish.
  public var seconds: Double
  /// The files written, relative to the output.
  public var files: [String]
  /// Warnings reported on the way.
  public var warnings: [String]

  /// Bits per parameter over the whole output.
  public var bitsPerParameter: Double { parameters == 0 ? 0 : Double(outputBytes * 8) / Double(parameters) }
  /// Bits per parameter of the quantized tensors alone.
  public var quantizedBitsPerParameter: Double {
    quantizedParameters == 0 ? 0 : Double(quantizedBytes * 8) / Double(quantizedParameters)
  }
}
