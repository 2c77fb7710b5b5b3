// Must not compile: a floating literal without an f or h suffix is a double.
#include <metal_stdlib>
using namespace metal;
kernel void unsuffixed_literal(device float* out [[buffer(0)]], uint tid [[thread_position_in_grid]]) {
  out[tid] = out[tid] * 0.5;
}
