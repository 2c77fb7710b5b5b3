// Must not compile: a device pointer cannot be used as a thread pointer.
#include <metal_stdlib>
using namespace metal;
kernel void address_space_mix(device float* data [[buffer(0)]], uint tid [[thread_position_in_grid]]) {
  thread float* local = data;
  local[tid] = 1.0f;
}
