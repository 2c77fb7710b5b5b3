// Dequantize kernels: quantized weights → float32, float16 or bfloat16 (one rounding from float32).
// One thread decodes 8 consecutive elements of the flattened weight; the codebooks are staged in
// threadgroup memory first. Grid: ceil(elementCount / 8) threads in threadgroups of 256, the tail
// guarded (KernelDispatchPlan.dequantize).
#include <metal_stdlib>
using namespace metal;

template <typename Source, typename Out>
kernel void dequantize_weights(device const uchar* weights [[buffer(0)]], device const uchar* scales [[buffer(1)]],
                               constant float* code [[buffer(2)]], device const float* nestedAbsmax [[buffer(3)]],
                               constant float* nestedCode [[buffer(4)]], device typename Out::T* output [[buffer(6)]],
                               constant QuantArgs& args [[buffer(8)]], uint gid [[thread_position_in_grid]],
                               uint tid [[thread_index_in_threadgroup]], uint threads [[threads_per_threadgroup]]) {
  threadgroup float codeTable[QUANT_CODE_TABLE_SIZE(Source)];
  threadgroup float nestedTable[QUANT_NESTED_TABLE_SIZE(Source)];
  stage_tables<Source>(code, nestedCode, args, codeTable, nestedTable, tid, threads);
  WeightBuffers b = {weights, scales, codeTable, nestedAbsmax, nestedTable, &args};
  uint first = gid * 8u;
  for (uint j = 0; j < 8u; ++j) {
    uint flat = first + j;
    if (flat < args.elementCount) {
      uint row = flat / args.columns;
      uint column = flat - row * args.columns;
      output[flat] = Out::store(Source::weight(b, row, column));
    }
  }
}

#define DEQUANTIZE_KERNEL(layout, source, out, suffix) \
  template [[host_name("dequantize_" #layout "_" #suffix)]] [[kernel]] decltype(dequantize_weights<source, out>) dequantize_weights<source, out>;

#define DEQUANTIZE_KERNELS(out, suffix)                 \
  DEQUANTIZE_KERNEL(cb4, Codebook4<0>, out, suffix)     \
  DEQUANTIZE_KERNEL(cb8, Codebook8<0>, out, suffix)     \
  DEQUANTIZE_KERNEL(int8, Int8Rowwise<0>, out, suffix)  \
  DEQUANTIZE_KERNEL(fp8, Float8<0>, out, suffix)

DEQUANTIZE_KERNELS(F32, f32)
DEQUANTIZE_KERNELS(F16, f16)
DEQUANTIZE_KERNELS(BF16, bf16)
