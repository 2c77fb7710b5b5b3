// Fused dequantize + GEMV for decode (M = 1…8 activation rows), in the style of MLX's qmv and
// llama.cpp's mul_mv: bandwidth-bound, so every weight byte is read once and decoded in registers.
//
// - A threadgroup is 2 SIMD-groups; each SIMD-group owns 4 consecutive output rows.
// - Fast path (args.vectorized): each lane takes 16 consecutive columns per step (8 bytes of 4-bit
//   weights, 16 bytes of 8-bit weights), loads the 16 activations once into registers and reuses them
//   for its 4 rows; the block scale multiplies each 16-column partial sum once.
// - Slow path (K not a multiple of 16, or tiles narrower than 16): one column per lane per step.
// - The codebooks are staged in threadgroup memory first (one barrier); one simd_sum per row at the
//   end, lane 0 writes.
// - Grid: threadgroups (ceil(N / 8), 1, M), 64 threads each (KernelDispatchPlan.gemv).
#include <metal_stdlib>
using namespace metal;

constant constexpr uint kGemvSimdgroups = 2;
constant constexpr uint kGemvRowsPerSimdgroup = 4;
constant constexpr uint kGemvColumnsPerLane = 16;

template <typename Source, typename Act>
kernel void gemv_weights(device const uchar* weights [[buffer(0)]], device const uchar* scales [[buffer(1)]],
                         constant float* code [[buffer(2)]], device const float* nestedAbsmax [[buffer(3)]],
                         constant float* nestedCode [[buffer(4)]], device const typename Act::T* input [[buffer(5)]],
                         device typename Act::T* output [[buffer(6)]], device const float* bias [[buffer(7)]],
                         constant QuantArgs& args [[buffer(8)]], uint3 group [[threadgroup_position_in_grid]],
                         uint simdgroup [[simdgroup_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]],
                         uint tid [[thread_index_in_threadgroup]]) {
  threadgroup float codeTable[QUANT_CODE_TABLE_SIZE(Source)];
  threadgroup float nestedTable[QUANT_NESTED_TABLE_SIZE(Source)];
  stage_tables<Source>(code, nestedCode, args, codeTable, nestedTable, tid, kGemvSimdgroups * 32u);
  WeightBuffers b = {weights, scales, codeTable, nestedAbsmax, nestedTable, &args};
  const uint firstRow = (group.x * kGemvSimdgroups + simdgroup) * kGemvRowsPerSimdgroup;
  const uint token = group.z;
  device const typename Act::T* x = input + token * args.columns;
  float accumulator[kGemvRowsPerSimdgroup] = {0.0f, 0.0f, 0.0f, 0.0f};

  if (args.vectorized != 0u) {
    float xs[kGemvColumnsPerLane];
    for (uint column = lane * kGemvColumnsPerLane; column < args.columns; column += 32u * kGemvColumnsPerLane) {
      Act::load16(x + column, xs);
      for (uint r = 0; r < kGemvRowsPerSimdgroup; ++r) {
        if (firstRow + r < args.rows) {
          accumulator[r] += Source::dot16(b, firstRow + r, column, xs);
        }
      }
    }
  } else {
    for (uint column = lane; column < args.columns; column += 32u) {
      float xv = Act::load(x, column);
      for (uint r = 0; r < kGemvRowsPerSimdgroup; ++r) {
        if (firstRow + r < args.rows) {
          accumulator[r] = fma(Source::weight(b, firstRow + r, column), xv, accumulator[r]);
        }
      }
    }
  }

  for (uint r = 0; r < kGemvRowsPerSimdgroup; ++r) {
    float total = simd_sum(accumulator[r]);
    uint row = firstRow + r;
    if (lane == 0u && row < args.rows) {
      if (args.hasBias != 0u) {
        total += bias[row];
      }
      output[token * args.rows + row] = Act::store(total);
    }
  }
}

#define GEMV_KERNEL(name, source, act, suffix) \
  template [[host_name("gemv_" #name "_" #suffix)]] [[kernel]] decltype(gemv_weights<source, act>) gemv_weights<source, act>;

#define GEMV_KERNELS(act, suffix)                        \
  GEMV_KERNEL(cb4_bs32, Codebook4<32>, act, suffix)      \
  GEMV_KERNEL(cb4_bs64, Codebook4<64>, act, suffix)      \
  GEMV_KERNEL(cb4_bs128, Codebook4<128>, act, suffix)    \
  GEMV_KERNEL(cb4, Codebook4<0>, act, suffix)            \
  GEMV_KERNEL(cb8, Codebook8<0>, act, suffix)            \
  GEMV_KERNEL(int8, Int8Rowwise<0>, act, suffix)         \
  GEMV_KERNEL(fp8, Float8<0>, act, suffix)

GEMV_KERNELS(F32, f32)
GEMV_KERNELS(F16, f16)
GEMV_KERNELS(BF16, bf16)
