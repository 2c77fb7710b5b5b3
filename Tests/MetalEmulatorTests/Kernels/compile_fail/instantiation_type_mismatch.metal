// Must not compile: the typedef is the float instantiation's function type, reused for half.
#include <metal_stdlib>
using namespace metal;
template <typename T>
kernel void scale(device T* data [[buffer(0)]], uint tid [[thread_position_in_grid]]) {
  data[tid] = data[tid] * T(2);
}
typedef decltype(scale<float>) scale_t;
template [[host_name("scale_f32")]] kernel scale_t scale<float>;
template [[host_name("scale_f16")]] kernel scale_t scale<half>;
