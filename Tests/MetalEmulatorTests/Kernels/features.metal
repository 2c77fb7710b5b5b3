// Kernels that exercise the emulator's features. Valid MSL, written to the authoring rules of
// Docs/metal.md (every parameter attributed, threadgroup storage at kernel scope, `f` suffixes).
#include <metal_stdlib>
using namespace metal;

struct ScaleArguments {
  uint count;
  float scale;
};

kernel void axpy_f16(device const half* x [[buffer(0)]], device half* y [[buffer(1)]],
                     constant ScaleArguments& args [[buffer(2)]], uint gid [[thread_position_in_grid]]) {
  if (gid < args.count) {
    y[gid] = half(args.scale) * x[gid] + y[gid];
  }
}

/// Sum of `count` floats per threadgroup: simd_sum per SIMD-group, partials in threadgroup memory.
template <typename T>
kernel void block_sum(device const T* input [[buffer(0)]], device float* output [[buffer(1)]],
                      constant uint& count [[buffer(2)]], uint tid [[thread_position_in_threadgroup]],
                      uint group [[threadgroup_position_in_grid]], uint threads [[threads_per_threadgroup]],
                      uint lane [[thread_index_in_simdgroup]], uint simdgroup [[simdgroup_index_in_threadgroup]],
                      uint simdgroups [[simdgroups_per_threadgroup]]) {
  threadgroup float partial[32];
  float value = 0.0f;
  for (uint i = group * threads + tid; i < count; i += threads * 1024u) {
    value += float(input[i]);
  }
  value = simd_sum(value);
  if (lane == 0) {
    partial[simdgroup] = value;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (simdgroup == 0) {
    float total = lane < simdgroups ? partial[lane] : 0.0f;
    total = simd_sum(total);
    if (lane == 0) {
      output[group] = total;
    }
  }
}

template [[host_name("block_sum_f32")]] kernel void block_sum<float>(
    device const float* input [[buffer(0)]], device float* output [[buffer(1)]], constant uint& count [[buffer(2)]],
    uint tid [[thread_position_in_threadgroup]], uint group [[threadgroup_position_in_grid]],
    uint threads [[threads_per_threadgroup]], uint lane [[thread_index_in_simdgroup]],
    uint simdgroup [[simdgroup_index_in_threadgroup]], uint simdgroups [[simdgroups_per_threadgroup]]);
template [[host_name("block_sum_f16")]] [[kernel]] decltype(block_sum<half>) block_sum<half>;

/// 2-D dispatchThreads with partial edge groups: out[y][x] = x + 1000 * y, and the lane of the xor-1 neighbour.
kernel void grid_positions(device uint* output [[buffer(0)]], device uint* neighbours [[buffer(1)]],
                           uint2 position [[thread_position_in_grid]], uint2 grid [[threads_per_grid]],
                           ushort lane [[thread_index_in_simdgroup]]) {
  uint neighbour = simd_shuffle_xor(uint(lane), ushort(1));
  output[position.y * grid.x + position.x] = position.x + 1000u * position.y;
  neighbours[position.y * grid.x + position.x] = neighbour;
}

/// Prefix sums, broadcasts and vector constructors in a 48-thread group (a partial SIMD-group).
kernel void simd_features(device float4* output [[buffer(0)]], uint tid [[thread_position_in_threadgroup]]) {
  float value = float(tid + 1u);
  float prefix = simd_prefix_inclusive_sum(value);
  float first = simd_broadcast_first(value);
  float maximum = simd_max(value);
  half2 h = half2(1.5h, 2.0h);
  float2 pair = float2(h);
  output[tid] = float4(prefix, first, maximum + pair.x, pair.y);
}

/// Threadgroup memory from setThreadgroupMemoryLength, with a barrier tree reduction.
static void tree_reduce(threadgroup float* scratch, uint tid, uint count) {
  for (uint stride = count / 2u; stride > 0u; stride /= 2u) {
    if (tid < stride) {
      scratch[tid] += scratch[tid + stride];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
}

kernel void tree_sum(device const float* input [[buffer(0)]], device float* output [[buffer(1)]],
                     threadgroup float* scratch [[threadgroup(0)]], uint tid [[thread_position_in_threadgroup]],
                     uint threads [[threads_per_threadgroup]]) {
  scratch[tid] = input[tid];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  tree_reduce(scratch, tid, threads);
  if (tid == 0) {
    output[0] = scratch[0];
  }
}

/// An 8×8 simdgroup_matrix product C = A · B over one 16×16 tile with four SIMD-groups.
kernel void matmul_16(device const float* a [[buffer(0)]], device const float* b [[buffer(1)]],
                      device float* c [[buffer(2)]], uint simdgroup [[simdgroup_index_in_threadgroup]]) {
  uint row = (simdgroup / 2u) * 8u;
  uint column = (simdgroup % 2u) * 8u;
  simdgroup_float8x8 accumulator = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
  for (uint k = 0; k < 16u; k += 8u) {
    simdgroup_float8x8 left;
    simdgroup_float8x8 right;
    simdgroup_load(left, a + row * 16u + k, 16);
    simdgroup_load(right, b + k * 16u + column, 16);
    simdgroup_multiply_accumulate(accumulator, left, right, accumulator);
  }
  simdgroup_store(accumulator, c + row * 16u + column, 16);
}

/// A non-template kernel exported under another name, with a threadgroup-size hint.
[[host_name("renamed_fill")]] [[max_total_threads_per_threadgroup(64)]] kernel void fill_value(
    device float* output [[buffer(0)]], uint gid [[thread_position_in_grid]]) {
  output[gid] = 42.0f;
}
