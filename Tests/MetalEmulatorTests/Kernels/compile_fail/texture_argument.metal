// Must not compile in the emulator: textures are not supported.
#include <metal_stdlib>
using namespace metal;
kernel void texture_argument(texture2d<float> image [[texture(0)]], device float* out [[buffer(0)]]) {
  out[0] = 1.0f;
}
