"""Write a deterministic random Llama-style fp16 model folder (for the CUDA interop check and benchmarks).

usage: python make_llama.py OUT [--hidden 256] [--intermediate 688] [--layers 4] [--vocab 2048] [--seed 1]
"""
import argparse
import os
import shutil

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--intermediate", type=int, default=688)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=a.hidden, intermediate_size=a.intermediate, num_hidden_layers=a.layers,
                      num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, vocab_size=a.vocab,
                      tie_word_embeddings=False, max_position_embeddings=512, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                param.copy_(1 + 0.1 * torch.randn(param.shape, generator=g))
            else:
                param.copy_(torch.randn(param.shape, generator=g) * 0.02)
    model = model.to(torch.float16)
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    model.save_pretrained(a.out, safe_serialization=True)
    print(a.out, sorted(os.listdir(a.out)))


if __name__ == "__main__":
    main()
