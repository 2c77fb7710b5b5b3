import Foundation

/// Finds the tokenizer of a model folder.
enum TextCodecLoader {
  /// The tokenizer of `directory`, or `nil` when the folder has none and none is `required`.
  ///
  /// - Throws: ``GenerateFailure`` (`invalidInput`) naming the file when a required tokenizer is missing
  ///   or unreadable.
  static func load(directory: URL, required: Bool) throws(GenerateFailure) -> (any TextCodec)? {
    let file = directory.appending(path: "tokenizer.json")
    guard FileManager.default.fileExists(atPath: file.path) else {
      guard required else { return nil }
      throw GenerateFailure(status: .invalidInput, message: "\(file.path): no tokenizer.json (use --prompt-ids)")
    }
    guard required else { return nil }
    throw GenerateFailure(status: .invalidInput, message: "\(file.path): tokenizers are not wired in yet")
  }
}
