"""Interop proof: checkpoints written by `bnb-patch` load in transformers + bitsandbytes on CUDA and give the
logits of transformers' own bitsandbytes quantization of the same fp16 weights.

For every (model, variant) pair it loads, on the chosen device:
  ours       AutoModelForCausalLM.from_pretrained(<bnb-patch output>, device_map=DEVICE)
  hf-cpu     transformers' own quantization made on CPU (the bitsandbytes default/CPU path bnb-patch follows):
             from_pretrained(fp16, quantization_config=cfg, device_map="cpu").save_pretrained(tmp), then loaded
             like ours
  hf-device  transformers' own quantization made directly on DEVICE (CUDA kernels: fast-math reciprocal,
             CUDA 8-bit nesting), from_pretrained(fp16, quantization_config=cfg, device_map=DEVICE)
  fp16       the unquantized model
and compares logits on fixed token ids, plus the stored quantized tensors (ours vs hf-cpu, byte by byte).

usage: python cuda_interop.py --device cuda --json OUT.json MODEL_FP16=OURS_DIR[,OURS_DIR...] ...
"""
import argparse
import json
import os
import sys
import tempfile
import time

import torch


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=ids.to(model.device)).logits.float().cpu()


def compare(a, b):
    d = (a - b).abs()
    return {
        "identical": bool(torch.equal(a, b)),
        "max_abs": float(d.max()),
        "mean_abs": float(d.mean()),
        "argmax_agreement": float((a.argmax(-1) == b.argmax(-1)).float().mean()),
    }


def stored_tensor_diff(dir_a, dir_b):
    from safetensors.torch import load_file
    a = load_file(os.path.join(dir_a, "model.safetensors"))
    b = load_file(os.path.join(dir_b, "model.safetensors"))
    out = {"tensors": len(b), "missing": sorted(set(b) - set(a)), "extra": sorted(set(a) - set(b)), "differ": {}}
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape:
            out["differ"][k] = f"{x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}"
            continue
        xb, yb = x.contiguous().view(-1).view(torch.uint8), y.contiguous().view(-1).view(torch.uint8)
        n = int((xb != yb).sum())
        if n:
            out["differ"][k] = f"{n} of {xb.numel()} bytes"
    out["identical_bytes"] = open(os.path.join(dir_a, "model.safetensors"), "rb").read() == open(
        os.path.join(dir_b, "model.safetensors"), "rb").read()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", default=None)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("pairs", nargs="+", help="FP16_DIR=OURS_DIR[,OURS_DIR...]")
    a = p.parse_args()

    import bitsandbytes
    import transformers
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    report = {
        "versions": {"torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
                     "bitsandbytes": bitsandbytes.__version__, "python": sys.version.split()[0]},
        "device": torch.cuda.get_device_name(0) if a.device == "cuda" else a.device,
        "results": [],
    }
    print(json.dumps(report["versions"]), report["device"], flush=True)
    for pair in a.pairs:
        fp16_dir, ours_list = pair.split("=", 1)
        fp16 = AutoModelForCausalLM.from_pretrained(fp16_dir, dtype=torch.float16, device_map=a.device)
        vocab = fp16.config.vocab_size
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(3, vocab, (2, a.tokens), generator=g)
        ref16 = logits_of(fp16, ids)
        del fp16
        for ours_dir in ours_list.split(","):
            start = time.time()
            qc = json.load(open(os.path.join(ours_dir, "config.json")))["quantization_config"]
            cfg = BitsAndBytesConfig.from_dict(dict(qc))
            ours = AutoModelForCausalLM.from_pretrained(ours_dir, device_map=a.device)
            lo = logits_of(ours, ids)
            kinds = sorted({type(m).__name__ for m in ours.modules() if "bnb" in type(m).__module__ or "bitsandbytes" in type(m).__module__})
            del ours
            with tempfile.TemporaryDirectory() as tmp:
                hf_cpu = AutoModelForCausalLM.from_pretrained(fp16_dir, quantization_config=cfg, dtype=torch.float16,
                                                              device_map="cpu")
                hf_cpu.save_pretrained(tmp)
                del hf_cpu
                stored = stored_tensor_diff(ours_dir, tmp)
                hf_cpu_loaded = AutoModelForCausalLM.from_pretrained(tmp, device_map=a.device)
                lc = logits_of(hf_cpu_loaded, ids)
                del hf_cpu_loaded
            hf_dev = AutoModelForCausalLM.from_pretrained(fp16_dir, quantization_config=cfg, dtype=torch.float16,
                                                          device_map=a.device)
            ld = logits_of(hf_dev, ids)
            del hf_dev
            result = {
                "model": fp16_dir, "ours": ours_dir, "quantization_config": qc, "bnb_modules_loaded": kinds,
                "ours_vs_hf_cpu_quantized": compare(lo, lc),
                "ours_vs_hf_device_quantized": compare(lo, ld),
                "hf_cpu_vs_hf_device_quantized": compare(lc, ld),
                "ours_vs_fp16": compare(lo, ref16),
                "hf_device_vs_fp16": compare(ld, ref16),
                "stored_tensors_ours_vs_hf_cpu": stored,
                "seconds": round(time.time() - start, 2),
            }
            report["results"].append(result)
            print(json.dumps({k: v for k, v in result.items() if k not in ("quantization_config", "stored_tensors_ours_vs_hf_cpu")}), flush=True)
    # Pass: every checkpoint loads into bitsandbytes modules, and our logits differ from transformers' own
    # CPU-made quantization by less than 5% of the quantization error itself (0 when the bytes are equal).
    for r in report["results"]:
        ref = r["hf_device_vs_fp16"]["mean_abs"]
        r["pass"] = bool(r["bnb_modules_loaded"]) and (
            r["ours_vs_hf_cpu_quantized"]["identical"] or r["ours_vs_hf_cpu_quantized"]["mean_abs"] < 0.05 * ref)
        print(f'{r["ours"]:>16}  loaded as {",".join(r["bnb_modules_loaded"])}  '
              f'ours vs hf(cpu-quantized): {"identical" if r["ours_vs_hf_cpu_quantized"]["identical"] else "max %.3g" % r["ours_vs_hf_cpu_quantized"]["max_abs"]}  '
              f'ours vs hf({a.device}-quantized): max {r["ours_vs_hf_device_quantized"]["max_abs"]:.3g}  '
              f'quantization error vs fp16: ours {r["ours_vs_fp16"]["mean_abs"]:.3g} hf {ref:.3g} (mean abs)  '
              f'stored bytes identical: {r["stored_tensors_ours_vs_hf_cpu"]["identical_bytes"]}  {"PASS" if r["pass"] else "FAIL"}')
    ok = all(r["pass"] for r in report["results"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    print("INTEROP", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
