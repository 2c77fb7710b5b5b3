// Must not compile: a C-style cast between vector types (clang would bit-cast; Metal converts).
#include <metal_stdlib>
using namespace metal;
kernel void vector_c_cast(device const float4* in [[buffer(0)]], device int4* out [[buffer(1)]],
                          uint tid [[thread_position_in_grid]]) {
  out[tid] = (int4)in[tid];
}
