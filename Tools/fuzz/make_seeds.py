"""Writes the seed corpora of the fuzz targets (Tools/fuzz/corpus/<target>/) from the committed fixtures.

Run from the repository root with any Python that has `safetensors` and `torch`
(see Tools/fixtures/README.md): python Tools/fuzz/make_seeds.py [TARGET...]
(default: every target this script seeds; each named target's folder is replaced, no other).
Each seed is small (a single layer's tensors), so the fuzzer mutates structure, not bulk data.
"""
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "Tools/fuzz/corpus"
FIX = ROOT / "Tests/Fixtures"


def layer_subset(folder: Path, prefix: str):
    from safetensors import safe_open

    tensors = {}
    for shard in sorted(folder.glob("*.safetensors")):
        with safe_open(str(shard), "pt") as f:
            for name in f.keys():
                if name.startswith(prefix):
                    tensors[name] = f.get_tensor(name)
    return tensors


def adapter_seeds():
    """adapter: adapter_config.json, one NUL byte, adapter_model.safetensors (the harness splits at the NUL)."""
    qlora = FIX / "qlora"
    for name in ["swift-adapter", "tiny-llama-peft-adapter"]:
        config = (qlora / name / "adapter_config.json").read_bytes()
        weights = (qlora / name / "adapter_model.safetensors").read_bytes()
        (CORPUS / "adapter" / f"{name}.bin").write_bytes(config + b"\0" + weights)
        wrong_rank = json.dumps(dict(json.loads(config), r=3)).encode()
        (CORPUS / "adapter" / f"{name}-wrong-rank.bin").write_bytes(wrong_rank + b"\0" + weights)


def checkpoint_seeds():
    from safetensors.torch import save_file

    # safetensors: one projection of each bitsandbytes checkpoint, the fp8 fixture, the dtype fixture.
    for kind in ["nf4-dq", "fp4", "int8"]:
        folder = FIX / "hf" / f"tiny-llama-bnb-{kind}"
        tensors = layer_subset(folder, "model.layers.0.self_attn.k_proj")
        save_file(tensors, str(CORPUS / "safetensors" / f"bnb-{kind}-k_proj.safetensors"))
        for name, tensor in tensors.items():
            if ".quant_state." in name:
                (CORPUS / "quant-state" / f"{kind}.json").write_bytes(bytes(tensor.numpy().tobytes()))
    with safe_open(str(FIX / "fp8/fp8.safetensors"), "pt") as f:
        small = {n: f.get_tensor(n) for n in f.keys() if f.get_slice(n).get_shape() and
                 __import__("math").prod(f.get_slice(n).get_shape()) <= 2048}
        names = sorted(small)[:8]
        save_file({n: small[n] for n in names}, str(CORPUS / "safetensors" / "fp8-subset.safetensors"))
    import torch
    w = (torch.arange(16 * 32, dtype=torch.float32).reshape(16, 32) / 100 - 2.5).to(torch.float8_e4m3fn)
    save_file({"layer.weight": w, "layer.weight_scale_inv": torch.tensor([[0.5]], dtype=torch.float32)},
              str(CORPUS / "safetensors" / "fp8-finegrained.safetensors"))
    shutil.copy(FIX / "safetensors/all_dtypes.safetensors", CORPUS / "safetensors/all-dtypes.safetensors")

    # quant-state variants: the keys bitsandbytes writes, with odd values.
    base = json.loads((CORPUS / "quant-state" / "nf4-dq.json").read_text())
    variants = {
        "huge-shape.json": dict(base, shape=[2**62, 2**62]),
        "huge-blocksize.json": dict(base, blocksize=2**62),
        "zero-blocksize.json": dict(base, blocksize=0),
        "negative-shape.json": dict(base, shape=[-1, 64]),
        "float-shape.json": dict(base, shape=[1e300, 2]),
        "nested-huge.json": dict(base, nested_blocksize=2**63 - 1),
    }
    for name, value in variants.items():
        (CORPUS / "quant-state" / name).write_text(json.dumps(value))

    # YAML: the example job, the bundled registry, and a few shapes of both.
    shutil.copy(ROOT / "Examples/quant.yaml", CORPUS / "job-yaml/example.yaml")
    (CORPUS / "job-yaml/rules.yaml").write_text(
        "model: m\noutput: o\nbackend: cpu\nquantization:\n  load_in_8bit: true\n  llm_int8_threshold: 6.0\n"
        "  llm_int8_skip_modules: [lm_head, 'model.layers.1.*']\nrules:\n  - match: 'model.layers.*.mlp.down_proj'\n"
        "    format: fp8_e4m3\n    parameters: {tile_size: 128}\n  - match: 'model.layers.0.*'\n    format: none\n"
        "max_shard_size: 5GB\nnon_finite: warn\n")
    (CORPUS / "job-yaml/aliases.yaml").write_text(
        "model: m\noutput: o\nrules:\n  - match: &m 'a.*'\n    format: nf4\n    parameters: &p {blocksize: 64}\n"
        "  - match: *m\n    format: fp4\n    parameters: *p\n")
    shutil.copy(ROOT / "Packages/ModelPatcher/Sources/Resources/registry.yaml", CORPUS / "registry-yaml/bundled.yaml")
    (CORPUS / "registry-yaml/small.yaml").write_text(
        "backend: cpu\nthreads: 2\nformats:\n  nf4:\n    enabled: true\n    aliases: [normalfloat4]\n"
        "    defaults: {blocksize: 128, double_quant: true}\n  fp8_e4m3:\n    enabled: false\n")

    # JSON: configs, an index, headers.
    shutil.copy(FIX / "hf/tiny-llama-bnb-nf4-dq/config.json", CORPUS / "json/config-nf4.json")
    shutil.copy(FIX / "safetensors/sharded/model.safetensors.index.json", CORPUS / "json/index.json")
    shutil.copy(FIX / "fp8/finegrained_config.json", CORPUS / "json/fp8-config.json")
    (CORPUS / "json/numbers.json").write_text('[0, -0, 1e308, 1e-320, 123456789012345678901234567890, -1.5E+3, "\\u00e9\\ud83d\\ude00", {"a": [[[]]]}]')


SEEDERS = {
    ("safetensors", "quant-state", "job-yaml", "registry-yaml", "json"): checkpoint_seeds,
    ("adapter",): adapter_seeds,
}


def main(targets):
    for group, seeder in SEEDERS.items():
        if targets and not set(group) & set(targets):
            continue
        for target in group:
            if (CORPUS / target).exists():
                shutil.rmtree(CORPUS / target)
            (CORPUS / target).mkdir(parents=True)
        seeder()


if __name__ == "__main__":
    main(sys.argv[1:])
