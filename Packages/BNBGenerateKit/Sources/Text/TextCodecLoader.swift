import ChatTemplates
import Foundation
import Tokenizers

/// Finds the tokenizer of a model folder.
enum TextCodecLoader {
  /// The tokenizer (and chat template) of `directory`, or `nil` when the folder has none and none is
  /// `required`.
  ///
  /// - Throws: ``GenerateFailure`` (`invalidInput`) naming the file when a required tokenizer is missing,
  ///   or a tokenizer or template cannot be read.
  static func load(directory: URL, required: Bool) throws(GenerateFailure) -> (any TextCodec)? {
    let file = directory.appending(path: "tokenizer.json")
    guard FileManager.default.fileExists(atPath: file.path) else {
      guard required else { return nil }
      throw GenerateFailure(status: .invalidInput, message: "\(file.path): no tokenizer.json (use --prompt-ids)")
    }
    let tokenizer: Tokenizer
    do {
      tokenizer = try Tokenizer.load(directory: directory)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "\(directory.path): \(error)")
    }
    var template: ChatTemplate?
    if let source = tokenizer.chatTemplate?.template(named: nil) {
      do {
        template = try ChatTemplate(source: source)
      } catch {
        throw GenerateFailure(
          status: .invalidInput, message: "\(directory.appending(path: "tokenizer_config.json").path): chat_template: \(error)")
      }
    }
    return TokenizerCodec(tokenizer: tokenizer, template: template)
  }
}
