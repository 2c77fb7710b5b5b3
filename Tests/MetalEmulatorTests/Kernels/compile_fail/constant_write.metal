// Must not compile: constant memory is read-only.
#include <metal_stdlib>
using namespace metal;
kernel void constant_write(constant float* table [[buffer(0)]], uint tid [[thread_position_in_grid]]) {
  table[tid] = 1.0f;
}
