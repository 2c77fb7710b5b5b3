"""Write a large synthetic Llama-shaped fp16 model folder without holding it in memory (for the memory benchmark).

Tensors are written one at a time, in row chunks, straight into a safetensors file (header first, then data),
so this script's own memory stays small. Values are normal(0, 0.02): a pool of 16 Mi values drawn once from
numpy's PCG64 with a fixed seed, read at a different offset for every chunk (fast, and deterministic).

usage: python3 make_synthetic_checkpoint.py OUT_DIR [--layers 9] [--hidden 4096] [--intermediate 11008] [--vocab 32000]
"""
import argparse
import json
import os

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=9)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--intermediate", type=int, default=11008)
    p.add_argument("--vocab", type=int, default=32000)
    a = p.parse_args()
    h, i = a.hidden, a.intermediate
    shapes = [("model.embed_tokens.weight", (a.vocab, h))]
    for n in range(a.layers):
        pre = f"model.layers.{n}."
        shapes += [
            (pre + "input_layernorm.weight", (h,)),
            (pre + "self_attn.q_proj.weight", (h, h)), (pre + "self_attn.k_proj.weight", (h, h)),
            (pre + "self_attn.v_proj.weight", (h, h)), (pre + "self_attn.o_proj.weight", (h, h)),
            (pre + "post_attention_layernorm.weight", (h,)),
            (pre + "mlp.gate_proj.weight", (i, h)), (pre + "mlp.up_proj.weight", (i, h)), (pre + "mlp.down_proj.weight", (h, i)),
        ]
    shapes += [("model.norm.weight", (h,)), ("lm_head.weight", (a.vocab, h))]
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in shapes:
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(1234))
    pool = (rng.standard_normal(1 << 24, dtype=np.float32) * 0.02).astype(np.float16)
    pool = np.concatenate([pool, pool])
    cursor = 0
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name, shape in shapes:
            if len(shape) == 1:
                f.write(np.ones(shape, dtype=np.float16).tobytes())
                continue
            rows = max(1, (1 << 22) // shape[1])
            for start in range(0, shape[0], rows):
                count = min(rows, shape[0] - start) * shape[1]
                cursor = (cursor * 1103515245 + 12345) % (1 << 24)
                f.write(pool[cursor:cursor + count].tobytes())
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h, "intermediate_size": i,
              "num_hidden_layers": a.layers, "num_attention_heads": h // 128, "num_key_value_heads": h // 128,
              "vocab_size": a.vocab, "tie_word_embeddings": False, "dtype": "float16", "rms_norm_eps": 1e-06}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    print(a.out, offset, "bytes of tensors")


if __name__ == "__main__":
    main()
