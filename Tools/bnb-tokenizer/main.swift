import Tokenizers

print("bnb-tokenizer: not yet")
