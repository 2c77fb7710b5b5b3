// Must not compile: threadgroup variables cannot have initializers.
#include <metal_stdlib>
using namespace metal;
kernel void threadgroup_initializer(device float* out [[buffer(0)]], uint tid [[thread_position_in_threadgroup]]) {
  threadgroup float shared[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  out[tid] = shared[tid % 4u];
}
