import ArgumentParser
import Tokenizers

/// `bnb-tokenizer`: debug a model folder's tokenizer and chat template from the command line.
struct BNBTokenizer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bnb-tokenizer",
    abstract: "Encode, decode and render prompts with a Hugging Face model folder's tokenizer files.",
    subcommands: [RenderCommand.self])
}

BNBTokenizer.main()
