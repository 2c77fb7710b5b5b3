// Must not compile: vector pieces of another element type (convert them first).
#include <metal_stdlib>
using namespace metal;
kernel void mixed_vector_parts(device half4* out [[buffer(0)]], uint tid [[thread_position_in_grid]]) {
  float2 f = float2(1.0f, 2.0f);
  half2 h = half2(3.0h, 4.0h);
  out[tid] = half4(f, h);
}
