import Foundation
import QuantCore
import SafeTensors

/// `--logits-out`: the prompt's logits as a safetensors file with one float32 tensor `logits`
/// `[1, T, vocab]`, for evaluation and for comparison with other implementations.
enum LogitsFile {
  /// Writes the file.
  ///
  /// - Parameters:
  ///   - logits: `[positions × vocabulary]` row-major.
  ///   - positions: T.
  ///   - vocabulary: The vocabulary size.
  ///   - url: The destination.
  /// - Throws: ``GenerateFailure`` with status `io` when it cannot be written.
  static func write(_ logits: [Float], positions: Int, vocabulary: Int, to url: URL) throws(GenerateFailure) {
    do {
      let tensor = try Tensor(logits, shape: [1, positions, vocabulary])
      try SafeTensorsWriter.write([NamedTensor("logits", tensor)], to: url)
    } catch {
      throw GenerateFailure(status: .io, message: "\(url.path): cannot write the logits: \(error)")
    }
  }
}
