// Fused dequantize + GEMM for prefill (M > 8): C[m][n] = Σ_k X[m][k] · W[n][k] (+ bias[n]).
//
// - Tiles of 32 tokens × 32 weight rows × 32 columns; 4 SIMD-groups (128 threads) in a 2×2 layout,
//   each accumulating a 16×16 block as 2×2 simdgroup_float8x8 matrices (float32 accumulation).
// - Per K step every thread stages 8 activations and dequantizes 8 weights (once per tile) into
//   threadgroup memory; the weight tile is stored transposed ([k][n]) so both operands load plainly.
// - The activation tile's memory is reused for the output tile before the bounds-checked store.
// - Grid: threadgroups (ceil(N / 32), ceil(M / 32), 1), 128 threads each (KernelDispatchPlan.gemm).
#include <metal_stdlib>
using namespace metal;

constant constexpr uint kGemmTile = 32;
constant constexpr uint kGemmElementsPerThread = 8;

template <typename Source, typename Act>
kernel void gemm_weights(device const uchar* weights [[buffer(0)]], device const uchar* scales [[buffer(1)]],
                         constant float* code [[buffer(2)]], device const float* nestedAbsmax [[buffer(3)]],
                         constant float* nestedCode [[buffer(4)]], device const typename Act::T* input [[buffer(5)]],
                         device typename Act::T* output [[buffer(6)]], device const float* bias [[buffer(7)]],
                         constant QuantArgs& args [[buffer(8)]], uint3 group [[threadgroup_position_in_grid]],
                         uint tid [[thread_index_in_threadgroup]], uint simdgroup [[simdgroup_index_in_threadgroup]]) {
  threadgroup float activations[kGemmTile * kGemmTile];  // [m][k]; later the output tile [m][n]
  threadgroup float weightTile[kGemmTile * kGemmTile];   // [k][n]
  threadgroup float codeTable[QUANT_CODE_TABLE_SIZE(Source)];
  threadgroup float nestedTable[QUANT_NESTED_TABLE_SIZE(Source)];

  stage_tables<Source>(code, nestedCode, args, codeTable, nestedTable, tid, 128u);
  WeightBuffers b = {weights, scales, codeTable, nestedAbsmax, nestedTable, &args};
  const uint rowBase = group.x * kGemmTile;
  const uint tokenBase = group.y * kGemmTile;
  const uint tileRow = (simdgroup / 2u) * 16u;
  const uint tileColumn = (simdgroup % 2u) * 16u;
  const uint loadRow = tid / 4u;
  const uint loadColumn = (tid % 4u) * kGemmElementsPerThread;

  simdgroup_float8x8 accumulator[2][2];
  for (uint i = 0; i < 2u; ++i) {
    for (uint j = 0; j < 2u; ++j) {
      accumulator[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }

  for (uint k0 = 0; k0 < args.columns; k0 += kGemmTile) {
    const uint token = tokenBase + loadRow;
    const uint row = rowBase + loadRow;
    for (uint j = 0; j < kGemmElementsPerThread; ++j) {
      uint column = k0 + loadColumn + j;
      bool inside = column < args.columns;
      activations[loadRow * kGemmTile + loadColumn + j] =
          (inside && token < args.tokens) ? Act::load(input, token * args.columns + column) : 0.0f;
      weightTile[(loadColumn + j) * kGemmTile + loadRow] =
          (inside && row < args.rows) ? Source::weight(b, row, column) : 0.0f;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint kk = 0; kk < kGemmTile; kk += 8u) {
      simdgroup_float8x8 left[2];
      simdgroup_float8x8 right[2];
      for (uint i = 0; i < 2u; ++i) {
        simdgroup_load(left[i], activations + (tileRow + 8u * i) * kGemmTile + kk, kGemmTile);
        simdgroup_load(right[i], weightTile + kk * kGemmTile + tileColumn + 8u * i, kGemmTile);
      }
      for (uint i = 0; i < 2u; ++i) {
        for (uint j = 0; j < 2u; ++j) {
          simdgroup_multiply_accumulate(accumulator[i][j], left[i], right[j], accumulator[i][j]);
        }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }

  for (uint i = 0; i < 2u; ++i) {
    for (uint j = 0; j < 2u; ++j) {
      simdgroup_store(accumulator[i][j], activations + (tileRow + 8u * i) * kGemmTile + tileColumn + 8u * j,
                      kGemmTile);
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);

  const uint token = tokenBase + loadRow;
  for (uint j = 0; j < kGemmElementsPerThread; ++j) {
    uint row = rowBase + loadColumn + j;
    if (token < args.tokens && row < args.rows) {
      float value = activations[loadRow * kGemmTile + loadColumn + j];
      if (args.hasBias != 0u) {
        value += bias[row];
      }
      output[token * args.rows + row] = Act::store(value);
    }
  }
}

// The input gradient of a quantized linear layer (training adapters over frozen weights):
// dX[m][k] = Σ_n dY[m][n] · W[n][k], W as stored ([N, K]), never transposed or decoded whole.
//
// - The same tiles as gemm_weights with the roles of N and K swapped: 32 tokens × 32 output columns (W's
//   columns) per threadgroup, 32 weight rows (the shared dimension) per step.
// - Each thread decodes 8 consecutive weights of one row (adjacent bytes, as the forward GEMM reads them)
//   into the [n][k] tile, which is already the right operand's layout.
// - Grid: threadgroups (ceil(K / 32), ceil(M / 32), 1), 128 threads each (KernelDispatchPlan.inputGradient).
template <typename Source, typename Act>
kernel void gemm_input_gradient(device const uchar* weights [[buffer(0)]], device const uchar* scales [[buffer(1)]],
                                constant float* code [[buffer(2)]], device const float* nestedAbsmax [[buffer(3)]],
                                constant float* nestedCode [[buffer(4)]],
                                device const typename Act::T* outputGradient [[buffer(5)]],
                                device typename Act::T* inputGradient [[buffer(6)]],
                                constant QuantArgs& args [[buffer(8)]], uint3 group [[threadgroup_position_in_grid]],
                                uint tid [[thread_index_in_threadgroup]],
                                uint simdgroup [[simdgroup_index_in_threadgroup]]) {
  threadgroup float gradients[kGemmTile * kGemmTile];  // [m][n]; later the output tile [m][k]
  threadgroup float weightTile[kGemmTile * kGemmTile];  // [n][k]
  threadgroup float codeTable[QUANT_CODE_TABLE_SIZE(Source)];
  threadgroup float nestedTable[QUANT_NESTED_TABLE_SIZE(Source)];

  stage_tables<Source>(code, nestedCode, args, codeTable, nestedTable, tid, 128u);
  WeightBuffers b = {weights, scales, codeTable, nestedAbsmax, nestedTable, &args};
  const uint columnBase = group.x * kGemmTile;
  const uint tokenBase = group.y * kGemmTile;
  const uint tileRow = (simdgroup / 2u) * 16u;
  const uint tileColumn = (simdgroup % 2u) * 16u;
  const uint loadRow = tid / 4u;
  const uint loadColumn = (tid % 4u) * kGemmElementsPerThread;

  simdgroup_float8x8 accumulator[2][2];
  for (uint i = 0; i < 2u; ++i) {
    for (uint j = 0; j < 2u; ++j) {
      accumulator[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    }
  }

  for (uint n0 = 0; n0 < args.rows; n0 += kGemmTile) {
    const uint token = tokenBase + loadRow;
    const uint row = n0 + loadRow;
    for (uint j = 0; j < kGemmElementsPerThread; ++j) {
      uint n = n0 + loadColumn + j;
      uint column = columnBase + loadColumn + j;
      gradients[loadRow * kGemmTile + loadColumn + j] =
          (n < args.rows && token < args.tokens) ? Act::load(outputGradient, token * args.rows + n) : 0.0f;
      weightTile[loadRow * kGemmTile + loadColumn + j] =
          (row < args.rows && column < args.columns) ? Source::weight(b, row, column) : 0.0f;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint nn = 0; nn < kGemmTile; nn += 8u) {
      simdgroup_float8x8 left[2];
      simdgroup_float8x8 right[2];
      for (uint i = 0; i < 2u; ++i) {
        simdgroup_load(left[i], gradients + (tileRow + 8u * i) * kGemmTile + nn, kGemmTile);
        simdgroup_load(right[i], weightTile + nn * kGemmTile + tileColumn + 8u * i, kGemmTile);
      }
      for (uint i = 0; i < 2u; ++i) {
        for (uint j = 0; j < 2u; ++j) {
          simdgroup_multiply_accumulate(accumulator[i][j], left[i], right[j], accumulator[i][j]);
        }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }

  for (uint i = 0; i < 2u; ++i) {
    for (uint j = 0; j < 2u; ++j) {
      simdgroup_store(accumulator[i][j], gradients + (tileRow + 8u * i) * kGemmTile + tileColumn + 8u * j,
                      kGemmTile);
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);

  const uint token = tokenBase + loadRow;
  for (uint j = 0; j < kGemmElementsPerThread; ++j) {
    uint column = columnBase + loadColumn + j;
    if (token < args.tokens && column < args.columns) {
      inputGradient[token * args.columns + column] = Act::store(gradients[loadRow * kGemmTile + loadColumn + j]);
    }
  }
}

#define GEMM_KERNEL(layout, source, act, suffix)                                                                    \
  template [[host_name("gemm_" #layout "_" #suffix)]] [[kernel]] decltype(gemm_weights<source, act>) gemm_weights<source, act>; \
  template [[host_name("gemm_input_gradient_" #layout "_" #suffix)]] [[kernel]]                                  \
  decltype(gemm_input_gradient<source, act>) gemm_input_gradient<source, act>;

#define GEMM_KERNELS(act, suffix)                      \
  GEMM_KERNEL(cb4, Codebook4<0>, act, suffix)          \
  GEMM_KERNEL(cb8, Codebook8<0>, act, suffix)          \
  GEMM_KERNEL(int8, Int8Rowwise<0>, act, suffix)       \
  GEMM_KERNEL(fp8, Float8<0>, act, suffix)

GEMM_KERNELS(F32, f32)
GEMM_KERNELS(F16, f16)
GEMM_KERNELS(BF16, bf16)
