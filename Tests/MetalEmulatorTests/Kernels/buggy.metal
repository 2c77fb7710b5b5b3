// Deliberately broken kernels (valid MSL): the emulator tests check that each bug is caught.
#include <metal_stdlib>
using namespace metal;

/// NF4 dequantize with the nibble order swapped (bitsandbytes puts element 2i in the HIGH nibble).
kernel void nf4_dequant_wrong_nibble(device const uchar* packed [[buffer(0)]], device const float* absmax [[buffer(1)]],
                                     constant float* code [[buffer(2)]], device float* output [[buffer(3)]],
                                     constant uint& count [[buffer(4)]], uint gid [[thread_position_in_grid]]) {
  if (gid < count) {
    uchar byte = packed[gid / 2u];
    uint nibble = (gid & 1u) == 0u ? (byte & 0x0Fu) : (byte >> 4);  // BUG: low nibble first
    output[gid] = code[nibble] * absmax[gid / 64u];
  }
}

/// The same kernel with the correct order, to show the comparison passes when the code is right.
kernel void nf4_dequant(device const uchar* packed [[buffer(0)]], device const float* absmax [[buffer(1)]],
                        constant float* code [[buffer(2)]], device float* output [[buffer(3)]],
                        constant uint& count [[buffer(4)]], uint gid [[thread_position_in_grid]]) {
  if (gid < count) {
    uchar byte = packed[gid / 2u];
    uint nibble = (gid & 1u) == 0u ? (byte >> 4) : (byte & 0x0Fu);
    output[gid] = code[nibble] * absmax[gid / 64u];
  }
}

/// Reads one element past the end of its row buffer (missing bounds check on the last thread).
kernel void read_past_end(device const float* input [[buffer(0)]], device float* output [[buffer(1)]],
                          uint gid [[thread_position_in_grid]]) {
  output[gid] = input[gid + 1u] + input[gid + 64u];  // BUG: no `gid + 64 < count` check
}

/// Neighbour exchange through threadgroup memory without a barrier.
kernel void shift_no_barrier(device const float* input [[buffer(0)]], device float* output [[buffer(1)]],
                             uint tid [[thread_position_in_threadgroup]], uint threads [[threads_per_threadgroup]]) {
  threadgroup float shared[256];
  shared[tid] = input[tid];
  // BUG: threadgroup_barrier(mem_flags::mem_threadgroup) missing here
  output[tid] = shared[(tid + 1u) % threads];
}

/// The same exchange with the barrier.
kernel void shift_with_barrier(device const float* input [[buffer(0)]], device float* output [[buffer(1)]],
                               uint tid [[thread_position_in_threadgroup]], uint threads [[threads_per_threadgroup]]) {
  threadgroup float shared[256];
  shared[tid] = input[tid];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  output[tid] = shared[(tid + 1u) % threads];
}

/// simd_sum used as if it reduced the whole 256-thread threadgroup.
kernel void sum_simd_only(device const float* input [[buffer(0)]], device float* output [[buffer(1)]],
                          uint tid [[thread_position_in_threadgroup]]) {
  float total = simd_sum(input[tid]);  // BUG: sums 32 lanes, not 256 threads
  if (tid == 0) {
    output[0] = total;
  }
}

/// A barrier inside a branch only some threads take.
kernel void barrier_in_branch(device float* output [[buffer(0)]], uint tid [[thread_position_in_threadgroup]]) {
  if (tid < 16u) {
    threadgroup_barrier(mem_flags::mem_threadgroup);  // BUG: divergent barrier
  }
  output[tid] = 1.0f;
}

/// An early return before a barrier.
kernel void return_before_barrier(device float* output [[buffer(0)]], uint tid [[thread_position_in_threadgroup]]) {
  if (tid >= 48u) {
    return;  // BUG: the others wait at the barrier below
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  output[tid] = 1.0f;
}

/// SIMD-group functions reached from different call sites by lanes of one SIMD-group.
kernel void divergent_simd(device float* output [[buffer(0)]], uint tid [[thread_position_in_threadgroup]]) {
  float value = float(tid);
  if (tid % 2u == 0u) {
    value = simd_sum(value);  // BUG: odd lanes call a different simd_sum
  } else {
    value = simd_sum(value * 2.0f);
  }
  output[tid] = value;
}

/// Reads buffer index 5, which the host never binds.
kernel void unbound_buffer(device float* output [[buffer(0)]], device const float* missing [[buffer(5)]],
                           uint tid [[thread_position_in_grid]]) {
  output[tid] = missing[tid];
}
