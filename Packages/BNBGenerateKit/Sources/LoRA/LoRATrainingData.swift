import Foundation
import QLoRA
import Tokenizers

/// Training and validation data of `bnb-lora`: a `.jsonl` file, or a folder with `train.jsonl` and
/// optionally `valid.jsonl` (mlx_lm.lora's layout), tokenized with the model's tokenizer and chat template.
struct LoRATrainingData {
  var train: [TrainingExample]
  var validation: [TrainingExample]
  /// Lines skipped as bad (`file:line: reason`), when skipping was asked for.
  var skipped: [JSONLDataset.LineError]

  /// The files a `--data` path names: (train, validation).
  static func files(_ path: String, split: String = "train") throws(GenerateFailure) -> (URL, URL?) {
    let url = URL(filePath: path).standardizedFileURL
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
      throw GenerateFailure(status: .invalidInput, message: "--data \(path): no such file or folder")
    }
    guard isFolder.boolValue else { return (url, nil) }
    let main = url.appending(path: "\(split).jsonl")
    guard FileManager.default.fileExists(atPath: main.path) else {
      throw GenerateFailure(status: .invalidInput, message: "--data \(path): the folder has no \(split).jsonl")
    }
    let validation = url.appending(path: "valid.jsonl")
    return (main, split == "train" && FileManager.default.fileExists(atPath: validation.path) ? validation : nil)
  }

  /// Reads and tokenizes one JSONL file.
  static func examples(
    _ url: URL, encoder: TokenizerTextEncoder, maxLength: Int, skipBadLines: Bool
  ) throws(GenerateFailure) -> ([TrainingExample], [JSONLDataset.LineError]) {
    let records: [TrainingRecord]
    let skipped: [JSONLDataset.LineError]
    do {
      (records, skipped) = try JSONLDataset.read(url, skipBadLines: skipBadLines)
    } catch {
      throw GenerateFailure(status: .invalidInput, message: error.description)
    }
    var examples: [TrainingExample] = []
    for (index, record) in records.enumerated() {
      do {
        let example = try JSONLDataset.example(from: record, encoder: encoder, maxLength: maxLength)
        if example.tokens.count >= 2 { examples.append(example) }
      } catch {
        throw GenerateFailure(status: .invalidInput, message: "\(url.path): record \(index + 1): \(error)")
      }
    }
    guard !examples.isEmpty else {
      throw GenerateFailure(status: .invalidInput, message: "\(url.path): no record has two or more tokens")
    }
    return (examples, skipped)
  }

  /// The encoder of a model folder: its tokenizer and chat template.
  static func encoder(modelFolder: URL) throws(GenerateFailure) -> TokenizerTextEncoder {
    do {
      return try TokenizerTextEncoder(tokenizer: try Tokenizer.load(directory: modelFolder))
    } catch {
      throw GenerateFailure(status: .invalidInput, message: "\(modelFolder.path): \(error)")
    }
  }
}
