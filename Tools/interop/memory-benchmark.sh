#!/usr/bin/env bash
# Memory benchmark (not a test): quantize a synthetic ~4 GB fp16 Llama-shaped checkpoint to NF4 + double
# quantization with bnb-patch and report peak resident memory, measured by /usr/bin/time -v.
#
# usage: Tools/interop/memory-benchmark.sh [WORK_DIR] [LAYERS]
#   WORK_DIR  scratch folder (default /tmp/bnb-memory-benchmark); needs about 7 GB of disk
#   LAYERS    decoder layers of 4096 x 11008 (default 9: 4.2 GB of fp16 tensors)
# Needs python3 with numpy. Prints the peak RSS, the wall time and the sizes.
set -euo pipefail
work=${1:-/tmp/bnb-memory-benchmark}
layers=${2:-9}
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
swift build -c release --product bnb-patch | tail -1
mkdir -p "$work"
if [ ! -f "$work/model-fp16/model.safetensors" ]; then
  python3 Tools/interop/make_synthetic_checkpoint.py "$work/model-fp16" --layers "$layers"
fi
cat > "$work/job.yaml" <<YAML
model: model-fp16
output: model-nf4
overwrite: true
quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true, bnb_4bit_compute_dtype: bfloat16}
YAML
sync
/usr/bin/time -v "$root/.build/release/bnb-patch" --config "$work/job.yaml" --quiet 2> "$work/time.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)|Exit status" "$work/time.txt"
echo "input:  $(du -sh "$work/model-fp16/model.safetensors" | cut -f1)"
echo "output: $(du -sh "$work/model-nf4" | cut -f1)"
echo "cores:  $(nproc)"
