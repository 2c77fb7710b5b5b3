#!/usr/bin/env bash
# Prepares the CUDA interop run (Docs/interop.md): builds bnb-patch, makes a medium random Llama with
# transformers, quantizes it and Examples/tiny-llama with bnb-patch into out/interop/, and stages a slim
# bitsandbytes (the CUDA 13.0 and CPU libraries only) under .whl/site for the device machine.
#
# usage: Tools/interop/prepare.sh PYTHON BNB_WHEEL
#   PYTHON     a Python with torch + transformers (to make the medium model)
#   BNB_WHEEL  bitsandbytes-0.50.2-py3-none-manylinux_2_24_x86_64.whl
set -euo pipefail
python=${1:?python with torch and transformers}
wheel=${2:?bitsandbytes wheel}
cd "$(dirname "$0")/../.."
swift build -c release --product bnb-patch
bnb=.build/release/bnb-patch
rm -rf out/interop && mkdir -p out/interop
cp -r Examples/tiny-llama out/interop/tiny-fp16
"$python" Tools/interop/make_llama.py out/interop/medium-fp16
for model in tiny medium; do
  cat > out/interop/job.yaml <<YAML
model: $model-fp16
output: $model-nf4-dq
overwrite: true
quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true, bnb_4bit_compute_dtype: bfloat16}
YAML
  "$bnb" --config out/interop/job.yaml --quiet
  "$bnb" --config out/interop/job.yaml --quiet --format fp4 --no-double-quant --output "out/interop/$model-fp4"
  "$bnb" --config out/interop/job.yaml --quiet --format int8 --output "out/interop/$model-int8"
done
rm out/interop/job.yaml
rm -rf .whl/site && mkdir -p .whl/site
unzip -q "$wheel" -d .whl/site -x 'bitsandbytes/libbitsandbytes_cuda1[12]*.so' 'bitsandbytes/libbitsandbytes_cuda132.so' \
  'bitsandbytes/libbitsandbytes_rocm*.so' 'bitsandbytes/libbitsandbytes_xpu*.so'
du -sh out/interop .whl/site
